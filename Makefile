# The two commands a newcomer runs: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
VENV_OK   := $(VENV)/.installed
CARGO     ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
export CARGO_TERM_COLOR ?= never

help:
	@echo "make demo   - run the whole service locally (moto + Notify simulator) on the example in events/demo"
	@echo "make test   - every check: fmt, clippy, cfn-lint, Rust tests against the local stack, simulator client test"
	@echo "make up     - keep the local stack running to try the service by hand"
	@echo "make chaos  - the reliability suite: the scenario once per fault class; writes docs/reliability.md"
	@echo "make package - sam validate --lint and sam build of the four functions (ARCH=x86_64 here; arm64 deploys by default)"

# The project virtualenv with pinned moto, cfn-lint and Notify's Python client; rebuilt when the pins change.
$(VENV_OK): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_OK)

.PHONY: help venv test demo up chaos fmt lint layering cfn-lint rust-test sim-client-test policy-test build package startup-test
build:
	$(CARGO) build --workspace --all-targets --locked

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

cfn-lint: $(VENV_OK)
	$(VENV)/bin/cfn-lint infra/template.yaml

# Rust tests share one moto server started here (tests start their own when SAIS_MOTO_ENDPOINT is unset).
rust-test: $(VENV_OK)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh $(CARGO) test --workspace --locked

sim-client-test: $(VENV_OK)
	$(CARGO) build --locked -p notify-sim
	NOTIFY_SIM_BIN="$(TARGET_DIR)/debug/notify-sim" $(VENV)/bin/pytest -q tools/notify-sim/tests tools/sais-local/python

# The template's per-team uploader policies, evaluated by moto's IAM enforcement (a moto server of
# the test's own, on a free port, stopped when the test ends): infra/tests.
policy-test: $(VENV_OK)
	$(VENV)/bin/pytest -q infra/tests

# The layout's invariants (docs/architecture.md): the store alone speaks DynamoDB, the keys live in one
# module, and no function's dependency tree holds test support.
layering:
	CARGO="$(CARGO)" scripts/check-layering.sh

# The deployable build, exactly as a team makes it: SAM's own build (cargo-lambda, the release
# profile) of the four functions into .aws-sam/build, for ARCH. This machine can build x86_64 only;
# on an arm64 toolchain `make package ARCH=arm64` builds what the template deploys by default.
ARCH ?= x86_64
SAM := SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam
package: $(VENV_OK)
	$(SAM) validate --lint --template infra/template.yaml --region eu-west-2
	$(SAM) build --beta-features --template infra/template.yaml --build-dir .aws-sam/build \
		--parameter-overrides Architecture=$(ARCH)
	@for f in Ingest Dispatcher Webhook Reminders; do \
		printf '%-10s bootstrap %s bytes\n' $$f "$$(stat -c %s .aws-sam/build/$${f}Function/bootstrap)"; \
	done

# Each function as deployed (tests/startup): the binaries `package` built, run under cargo-lambda's
# Lambda emulator with exactly the template's environment, against moto (the template's resources
# and secrets) and the Notify simulator, driven by the events/ samples; and each start-up without a
# variable or secret it needs. Every process it starts is stopped when it ends.
startup-test: package
	$(CARGO) build --locked -p notify-sim
	NOTIFY_SIM_BIN="$(TARGET_DIR)/debug/notify-sim" $(VENV)/bin/pytest -q tests/startup

test: fmt lint layering cfn-lint rust-test sim-client-test policy-test package startup-test
	@echo "make test: all checks passed"

# The demo over events/demo; every report it makes is left in demo-output/ (the campaign page's
# path is its last line). `make demo DEMO_ARGS="--out DIR"` puts them elsewhere.
demo: $(VENV_OK)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TARGET_DIR="$(TARGET_DIR)" scripts/demo.sh $(DEMO_ARGS)

# The reliability suite: the chaos scenario without faults, then once per fault class (AWS faults
# through a proxy in front of moto, Notify's through the simulator, crashes); every family's
# outcome must equal the reference. Prints the table and writes it to docs/reliability.md.
chaos: $(VENV_OK)
	$(CARGO) build --locked -p sais-cli
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/with-moto.sh "$(TARGET_DIR)/debug/sais" chaos --write docs/reliability.md

# The local stack kept running, for trying the service by hand (Ctrl-C stops it). It prints the
# settings and the `sais upload`, `sais reports` and `sais report` commands that reach it.
up: $(VENV_OK)
	$(CARGO) build --quiet --release --locked -p sais-cli
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" "$(TARGET_DIR)/release/sais" up

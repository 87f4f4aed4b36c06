#!/usr/bin/env bash
# `make demo`: builds the sais command and runs the service on the local stack over events/demo.
# Every report it makes is left in demo-output/ (or `--out DIR`); the last line names the
# campaign page to open.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p sais-cli
sais="${TARGET_DIR:-target}/release/sais"
exec "$sais" demo --input events/demo "$@"

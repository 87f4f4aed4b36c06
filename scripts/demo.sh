#!/usr/bin/env bash
# `make demo`: builds the sais command and runs the service on the local stack over events/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p sais-cli
if [[ ! -f events/demo/cohort/cohort.csv ]]; then
  ./target/release/sais generate cohort --rows 300 --seed 7 > events/demo/cohort/cohort.csv
fi
exec ./target/release/sais demo --input events/demo "$@"

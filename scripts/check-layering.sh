#!/usr/bin/env bash
# The layout's invariants (docs/architecture.md), checked on every `make test`:
#  1. only shared/src/store/ imports the DynamoDB SDK;
#  2. every table key is made in shared/src/store/keys.rs;
#  3. no Lambda function's dependency tree holds the local stack, the simulator or the fault proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

outside=$(grep -rln 'aws_sdk_dynamodb' shared/src functions | grep -v '^shared/src/store/' || true)
if [ -n "$outside" ]; then
  echo "check-layering: aws_sdk_dynamodb used outside shared/src/store/:" >&2
  echo "$outside" >&2
  status=1
fi

keys=$(grep -rn '"T#' shared/src functions tools --include='*.rs' | grep -v '^shared/src/store/keys.rs:' || true)
if [ -n "$keys" ]; then
  echo "check-layering: a table key made outside shared/src/store/keys.rs:" >&2
  echo "$keys" >&2
  status=1
fi

for f in functions/*/; do
  name=$(basename "$f")
  found=$(${CARGO:-cargo} tree --locked -p "$name" -e features --prefix none 2>/dev/null \
    | grep -E '^(sais-local|notify-sim|fault-proxy) ' | sort -u || true)
  if [ -n "$found" ]; then
    echo "check-layering: the $name function depends on test support:" >&2
    echo "$found" >&2
    status=1
  fi
done

[ "$status" -eq 0 ] && echo "check-layering: the store, the keys and the functions' dependencies are as docs/architecture.md says"
exit "$status"

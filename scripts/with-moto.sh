#!/usr/bin/env bash
# Runs a command with one moto server shared by every test process (SAIS_MOTO_ENDPOINT), and
# stops that server afterwards whatever the command's outcome.
set -euo pipefail
if [[ -n "${SAIS_MOTO_ENDPOINT:-}" ]]; then exec "$@"; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t moto.XXXXXX.log)
# moto's own server, with DynamoDB's conditional writes atomic as in AWS (see the script).
python3 "$(dirname "$0")/../tools/sais-local/python/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true; wait $moto_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 $moto_pid 2>/dev/null; then echo "moto_server failed to start:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.1
done
export SAIS_MOTO_ENDPOINT="http://127.0.0.1:$port"
"$@"

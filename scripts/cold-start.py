#!/usr/bin/env python3
"""Cold-start (init) time of each function's shipped binary.

For each function of infra/template.yaml, its bootstrap from `make package`
(.aws-sam/build/<Name>Function/bootstrap) is started RUNS times, each time a new process with
the environment the template gives it, against moto holding the template's resources and
secrets (tests/startup/startup_stack.py sets both up, as the start-up test does). Measured: from
spawning the process to its first `GET /2018-06-01/runtime/invocation/next`, the moment Lambda
counts as the end of init: configuration read, SDK clients built, secrets fetched from (local)
Secrets Manager, runtime loop started. A small stand-in Runtime API notes that request; the
function is then stopped. The functions are started in turn (ingest, dispatcher, …, then again),
so that a burst of load on the machine hits all of them alike.

Not included, compared with AWS: Lambda's own sandbox set-up and the download of the code; the
network round trip (and KMS decrypt) of each GetSecretValue, here moto on 127.0.0.1; and the CPU
share Lambda gives by memory size (a whole vCPU only at 1,769 MB), here a whole core of this
machine. NOTIFY_BASE_URL keeps the template's value: ingest, the dispatcher and the reminders
build their Notify client at start-up (the URL and the default key are checked then) but none
calls Notify until it has work; each team's own settings and secrets (under TEAM_SECRET_PREFIX)
are read at first use, not at start-up.

Also shown: the same binary started without AWS_REGION, which it checks first and exits on,
to tell process start-up (loading, the async runtime, logging) from the rest.

Usage: .venv/bin/python scripts/cold-start.py [--runs 10] [--json out.json]
(after `make package`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "startup"))

import startup_stack as stack  # noqa: E402


def api_key_placeholder(logical: str, name: str, template_value: str) -> str:
    # A well-formed Notify key, as the operator puts in after the first deploy (never used to
    # call Notify here).
    import uuid

    if template_value.startswith("REPLACE_ME"):
        return f"cold-start-{uuid.uuid4()}-{uuid.uuid4()}"
    return template_value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()

    procs = stack.Processes()
    stub = stack.RuntimeStub()
    try:
        logs = Path(tempfile.mkdtemp(prefix="cold-start-"))
        moto = stack.start_moto(procs, logs / "moto.log")
        template = stack.load_template()
        local = stack.LocalStack(template, moto, api_key_placeholder)
        local.create_all()
        functions = stack.functions(template, local.resolver)
        missing = [f.bootstrap for f in functions.values() if not f.bootstrap.exists()]
        if missing:
            print(f"missing {missing}: run `make package` first", file=sys.stderr)
            return 1
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in functions}
        # The same binary stopping at its first check (no AWS_REGION): process start, the async
        # runtime and logging, without the SDK, configuration and secrets.
        bare: dict[str, list[float]] = {name: [] for name in functions}
        for _ in range(args.runs):
            for name, fn in functions.items():
                result = stack.start_once(procs, stub, fn, {"AWS_ENDPOINT_URL": moto})
                if not result.polled:
                    print(f"{name} did not start (exit {result.returncode}): {result.errors()}", file=sys.stderr)
                    return 1
                times[name].append(result.seconds * 1000)
                result = stack.start_once(procs, stub, fn, {"AWS_ENDPOINT_URL": moto}, remove=("AWS_REGION",))
                bare[name].append(result.seconds * 1000)
        load_after = os.getloadavg()
        # What the measuring itself costs: spawning a process that does nothing, to its exit.
        harness = []
        for _ in range(args.runs):
            started = time.monotonic()
            proc = procs.spawn(["/bin/true"], stdout=subprocess.DEVNULL)
            while proc.poll() is None:
                time.sleep(0.002)
            harness.append((time.monotonic() - started) * 1000)
            procs.procs.remove(proc)
    finally:
        procs.stop_all()
        stub.close()

    print(f"Cold start: spawn to first Runtime API poll, {args.runs} runs each, against moto on 127.0.0.1")
    print(f"({os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after)\n")
    print("| Function | Memory | Bootstrap | Init median | Init range | Exit at first check, median |")
    print("|---|---|---|---|---|---|")
    for name, fn in functions.items():
        t = times[name]
        size = fn.bootstrap.stat().st_size / 1e6
        print(f"| {name} | {fn.memory_mb} MB | {size:.2f} MB | {statistics.median(t):.1f} ms "
              f"| {min(t):.1f}-{max(t):.1f} ms | {statistics.median(bare[name]):.1f} ms |")
    print(f"\nHarness overhead (spawning /bin/true to its exit, measured the same way): median "
          f"{statistics.median(harness):.1f} ms, {min(harness):.1f}-{max(harness):.1f} ms; included in every figure above.")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "init_ms": times, "exit_at_first_check_ms": bare}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The long memory-safety run: the daemon in a 3 GiB memory cgroup under hostile requests.

    .venv/bin/python bench/memory_safety.py [--requests 10000] [--minutes 15] [--seed 1]

The long form of tests/test_memory_safety.py (issue 18): a child memory cgroup (v1 or
v2, tests/memory_cgroup.py) limited to ``--limit-gib``; the daemon joins it before exec,
with default memory settings (its budget from the cgroup). Hostile requests from
tests/memory_cases.py, drawn by Hypothesis from ``--seed`` in batches, run from
``--threads`` threads until ``--requests`` are done or ``--minutes`` have passed. If the
daemon is killed, the kill is counted and a fresh daemon takes over (in the same group,
the next seed), so one run measures how often it happens. Reports requests, outcomes by
status and reason (and by kind of request), the group's peak charge
(``memory.max_usage_in_bytes`` / ``memory.peak``) against the limit, the kernel's OOM
kills, RSS before and after; JSON in bench/results/memory_safety.json. Exit 1 on any
kill or a refusal outside the documented set.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fuzz_cases  # noqa: E402  (tests/ is put on sys.path above)
import memory_cases  # noqa: E402
from conftest import DaemonProcess, start_daemon, stop_daemon, wait_serving  # noqa: E402
from memory_cgroup import MemoryCgroup  # noqa: E402
from test_memory_safety import budget_source, warm_baseline  # noqa: E402


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--batch", type=int, default=9, help="heavy cases a batch (every kind)")
    parser.add_argument("--cheap", type=int, default=12, help="cases of each cheap kind a batch")
    parser.add_argument("--limit-gib", type=float, default=3.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the daemon, remove the group
    limit = int(args.limit_gib * 2**30)
    deadline = time.monotonic() + args.minutes * 60
    tally = memory_cases.Tally()
    daemons: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch, MemoryCgroup.create(limit) as group:
        started = time.perf_counter()
        run_seed = args.seed
        while tally.requests < args.requests and time.monotonic() < deadline:
            log = Path(scratch) / f"daemon{len(daemons)}.log"
            daemon = start_daemon(log, env={"STYLIZE_DATA_DIR": scratch}, wrapper=group.wrapper())
            record = {"seed": run_seed, "budget_source": budget_source(daemon.address)}
            record["rss_mb_baseline"] = round(warm_baseline(daemon))
            before = tally.requests

            def alive(daemon: DaemonProcess = daemon) -> bool:
                return daemon.process.poll() is None and time.monotonic() < deadline

            try:
                memory_cases.hammer(
                    daemon.address,
                    args.requests - tally.requests,
                    args.batch,
                    run_seed,
                    args.threads,
                    alive,
                    tally,
                    args.cheap,
                )
                if daemon.process.poll() is None:
                    wait_serving(daemon.address, timeout=10)
                    time.sleep(10)  # the idle release runs 3 s after the last job
                    record["rss_mb_after"] = round(fuzz_cases.rss_mb(daemon.process.pid))
            finally:
                record["exit"] = stop_daemon(daemon) if daemon.process.poll() is None else None
                record["killed"] = daemon.process.returncode == -9
                record["requests"] = tally.requests - before
                daemons.append(record)
                print(json.dumps(record), flush=True)
            run_seed += 1
        report = {
            "cpu": cpu_name(),
            "cores": len([n for n in Path("/proc/cpuinfo").read_text().split("\n\n") if n]),
            "cgroup": f"v{group.version}",
            "limit_gib": args.limit_gib,
            "threads": args.threads,
            "batch": {"heavy": args.batch, "cheap_each": args.cheap},
            "requests": tally.requests,
            "seconds": round(time.perf_counter() - started),
            "outcomes": dict(tally.outcomes.most_common()),
            "by_kind": dict(sorted(tally.kinds.items())),
            "problems": tally.problems[:50],
            "peak_gib": round((group.peak_bytes() or 0) / 2**30, 3),
            "oom_kills": group.oom_kills(),
            "limit_hits": group.limit_hits(),
            "daemons": daemons,
        }
    print(json.dumps(report, indent=2))
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "memory_safety.json").write_text(json.dumps(report, indent=2))
    return 1 if report["oom_kills"] or report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Long fuzz run against a fresh daemon: counts by status, RSS before and after.

    .venv/bin/python bench/fuzz.py [--cases 10000] [--seed 1]

Uses the strategies of tests/fuzz_cases.py (every field of every RPC, mutated
image files, absurd sizes, NaN/inf, huge repeated fields, truncated, reordered and
stalled streams) through Hypothesis, generation only (no shrinking), one case at a
time over loopback. Any status outside the documented set is printed with the
case; the daemon's Health must still answer at the end. JSON lands in
bench/results/fuzz.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import fuzz_cases  # noqa: E402  (tests/ is put on sys.path above)
import grpc  # noqa: E402
from conftest import start_daemon, stop_daemon, wait_serving  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        daemon = start_daemon(Path(scratch) / "daemon.log", env={"STYLIZE_DATA_DIR": scratch})
        try:
            report = fuzz(daemon.address, daemon.process.pid, args.cases, args.seed)
            wait_serving(daemon.address, timeout=10)
            report["health_after"] = "SERVING"
        finally:
            stop_daemon(daemon)
        found = tracebacks(daemon.log())
        report["daemon_internal_errors_logged"] = len(found)
        report["daemon_tracebacks"] = sorted(set(found), key=found.index)[:5]
    print(json.dumps(report, indent=2))
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "fuzz.json").write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["undocumented"] else 0


def tracebacks(log: str, context: int = 40) -> list[str]:
    """The daemon's "internal error" log records with their tracebacks."""
    lines = log.splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line.endswith("ERROR stylize.server.status: internal error")
    ]
    return ["\n".join(lines[i : i + context]) for i in starts]


def replayable(case: fuzz_cases.Case) -> dict:
    """A failing case in full: method, stall flag, base64 of each serialized message."""
    messages = [base64.b64encode(m.SerializeToString()).decode() for m in case.messages]
    return {"method": case.method, "stall": case.stall, "messages": messages}


def fuzz(address: str, pid: int, count: int, run_seed: int) -> dict:
    counts: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    undocumented: list[str] = []
    failing: list[dict] = []
    samples: list[tuple[int, float]] = []
    options = [("grpc.max_send_message_length", 64 << 20)]
    with grpc.insecure_channel(address, options=options) as channel:
        rss_before = fuzz_cases.rss_mb(pid)
        started = time.perf_counter()

        @seed(run_seed)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(fuzz_cases.cases())
        def one(case: fuzz_cases.Case) -> None:
            code = fuzz_cases.run_case(channel, case)
            counts[code] += 1
            by_method[f"{case.method}{' (stalled)' if case.stall else ''} {code}"] += 1
            if code not in fuzz_cases.allowed(case):
                undocumented.append(f"{code}: {fuzz_cases.describe(case)}")
                failing.append(replayable(case))
                print("UNDOCUMENTED", undocumented[-1], flush=True)
            done = sum(counts.values())
            if done % 500 == 0:
                samples.append((done, fuzz_cases.rss_mb(pid)))
                print(f"{done} cases, daemon RSS {samples[-1][1]:.0f} MB", flush=True)

        one()
        seconds = time.perf_counter() - started
        rss_after = fuzz_cases.rss_mb(pid)
    return {
        "cases": sum(counts.values()),
        "seconds": round(seconds, 1),
        "by_status": dict(counts.most_common()),
        "by_method_and_status": dict(sorted(by_method.items())),
        "undocumented": undocumented,
        "undocumented_cases": failing,
        "rss_mb_before": round(rss_before),
        "rss_mb_after": round(rss_after),
        "rss_mb_samples": [(n, round(mb)) for n, mb in samples],
        "seed": run_seed,
    }


if __name__ == "__main__":
    sys.exit(main())

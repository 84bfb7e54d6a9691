"""Bounded load test over loopback: 32 concurrent clients vs one client alone.

    .venv/bin/python bench/load.py [--clients 32] [--jobs 6] [--large-every 6]
                                   [--sizes 64 256] [--large 1024] [-- serve args...]

Starts a fresh daemon (default settings unless serve arguments follow ``--``), then
runs the same job list twice: once by ONE client, one job after another, and once
split over CLIENTS threads, each with its own StylizeClient (its own channel and
connection), all at once. Every job is raw RGB in, raw RGB out, the named style
starry_night (its vector cached after the first job). Job i of client c is LARGE px
square when (c + i) % LARGE_EVERY == 0, else one of SIZES in turn. A job refused with
RESOURCE_EXHAUSTED back-pressure (a refusal with RetryInfo, e.g. BUSY: the queue is
full) that still reaches the bench after the client's own retries is tried again after
a jittered backoff (50 ms doubling to 1 s) and counted by reason; any other error is a
failure. The run stops by itself: a fixed number of jobs, each bounded by
the client's deadline. Reported per phase: wall time, jobs/s and megapixels/s,
latency p50/p99 per size (first attempt to result, retries included), outcome
counts, and the daemon's peak RSS sampled every 20 ms. JSON: bench/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import numpy as np  # noqa: E402
from conftest import sample_photo, start_daemon, stop_daemon  # noqa: E402
from fuzz_cases import rss_mb  # noqa: E402
from stylize.client import library as client  # noqa: E402
from stylize.client.library import ClientError, RawImage, StylizeClient  # noqa: E402

STYLE = client.named_style("starry_night")


@dataclass(frozen=True)
class Done:
    size: int
    seconds: float
    refusals: tuple[str, ...]  # back-pressure reasons, one per refused attempt
    outcome: str  # OK or the status name of a failure


def job_sizes(clients: int, jobs: int, large_every: int, sizes: list[int], large: int):  # type: ignore[no-untyped-def]
    return [
        [large if (c + i) % large_every == 0 else sizes[i % len(sizes)] for i in range(jobs)]
        for c in range(clients)
    ]


def back_pressure(error: ClientError) -> str | None:
    """The reason of a retryable refusal (RetryInfo present), else None."""
    if error.code != "RESOURCE_EXHAUSTED" or error.retry_after is None:
        return None
    return error.reason or "retryable"


def run_job(daemon: StylizeClient, content: RawImage, rng: random.Random) -> Done:
    started = time.perf_counter()
    refusals: list[str] = []
    backoff = 0.05
    while True:
        try:
            result = daemon.stylize(content, [STYLE])
            assert result.image is not None and len(result.image.data) == len(content.data)
            return Done(content.width, time.perf_counter() - started, tuple(refusals), "OK")
        except ClientError as error:
            reason = back_pressure(error)
            if reason is None:
                outcome = f"{error.code}: {error.message[:80]}"
                return Done(content.width, time.perf_counter() - started, tuple(refusals), outcome)
            refusals.append(reason)
            time.sleep(backoff * rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 1.0)


class PeakRss:
    """Samples a process's RSS every 20 ms; ``peak`` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __enter__(self) -> PeakRss:
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def refusals(metrics_url: str) -> Counter[str]:
    """The daemon's refusals so far, by reason (Prometheus text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name == "stylize_refusals":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["reason"]] += int(sample.value)
    return counts


def phase(daemon, plan: list[list[int]], images: dict[int, RawImage]) -> dict:  # type: ignore[no-untyped-def]
    address, pid, metrics_url = daemon.address, daemon.process.pid, metrics_address(daemon)
    refused_before = refusals(metrics_url)
    done: list[Done] = []

    def one_client(sizes: list[int], seed: int) -> None:
        rng = random.Random(seed)
        with StylizeClient(address, timeout=300) as daemon:
            for size in sizes:
                done.append(run_job(daemon, images[size], rng))

    threads = [
        threading.Thread(target=one_client, args=(sizes, seed)) for seed, sizes in enumerate(plan)
    ]
    with PeakRss(pid) as rss:
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    ok = [d for d in done if d.outcome == "OK"]
    megapixels = sum(d.size * d.size for d in ok) / 1e6
    latency = {}
    for size in sorted({d.size for d in ok}):
        times = sorted(d.seconds for d in ok if d.size == size)
        latency[f"{size}px"] = {
            "jobs": len(times),
            "p50_ms": round(statistics.median(times) * 1000),
            "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))] * 1000),
        }
    return {
        "clients": len(plan),
        "jobs": len(done),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(len(ok) / wall, 2),
        "megapixels_per_s": round(megapixels / wall, 2),
        "latency": latency,
        "outcomes": dict(Counter(d.outcome for d in done)),
        "refusals_seen_by_clients": dict(Counter(r for d in done for r in d.refusals)),
        "daemon_refusals_by_reason": dict(refusals(metrics_url) - refused_before),
        "jobs_refused_at_least_once": sum(bool(d.refusals) for d in done),
        "daemon_peak_rss_mb": round(rss.peak),
    }


def metrics_address(daemon) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r"metrics address=(\S+):(\d+)", daemon.log())
    assert match, "the daemon was started without --metrics-port"
    return f"http://{match.group(1)}:{match.group(2)}/metrics"


def main() -> int:
    argv = sys.argv[1:]
    serve_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=6, help="jobs per client")
    parser.add_argument("--large-every", type=int, default=6)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--large", type=int, default=1024)
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    plan = job_sizes(args.clients, args.jobs, args.large_every, args.sizes, args.large)
    images = {
        size: RawImage(size, size, "RGB8", np.asarray(sample_photo(size, size)).tobytes())
        for size in {*args.sizes, args.large}
    }
    with tempfile.TemporaryDirectory() as scratch:
        daemon = start_daemon(Path(scratch) / "daemon.log", "--metrics-port", "0", *serve_args)
        try:
            phase(daemon, [[min(images)]], images)  # warm: style vector cached
            alone = phase(daemon, [[size for sizes in plan for size in sizes]], images)
            together = phase(daemon, plan, images)
        finally:
            stop_daemon(daemon)
    report = {
        "serve_args": serve_args,
        "plan": {k: v for k, v in vars(args).items()},
        "one_client": alone,
        "concurrent": together,
        "throughput_ratio": round(together["jobs_per_s"] / alone["jobs_per_s"], 2),
    }
    print(json.dumps(report, indent=2))
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    name = "load.json" if not serve_args else "load-" + "-".join(a.strip("-") for a in serve_args)
    path = REPO / "bench" / "results" / (name if name.endswith(".json") else name + ".json")
    path.write_text(json.dumps(report, indent=2) + "\n")
    failures = {k: v for k, v in together["outcomes"].items() if k != "OK"}
    return 1 if failures or set(alone["outcomes"]) - {"OK"} else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fairness: a fast job's latency while an optimisation runs, against its latency alone.

    .venv/bin/python bench/fairness.py [--fast-side 1024] [--optimize-side 512] [--rounds 5]

One daemon on loopback. Rounds interleave: a fast job alone (the optimisation paused by
finish() and restarted between rounds would change what is measured, so "alone" rounds
run before the optimisation starts and after it ends), then the same fast job while an
L-BFGS optimisation is mid-run. Reports the medians and their ratio (target: about 2x or
less). The optimisation has its own job slot and waits between iterations while a fast
job runs (server/service.py), so the fast job shares the CPU with one iteration at most.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from conftest import encode, sample_photo, start_daemon, stop_daemon  # noqa: E402
from stylize.client import library as client  # noqa: E402
from stylize.v1 import stylize_pb2 as pb  # noqa: E402

STYLE = client.named_style("starry_night")


def _fast(daemon: client.StylizeClient, side: int) -> float:
    pixels = np.asarray(sample_photo(side, side)).tobytes()
    started = time.perf_counter()
    daemon.stylize(client.RawImage(side, side, "RGB8", pixels), [STYLE])
    return time.perf_counter() - started


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast-side", type=int, default=1024)
    parser.add_argument("--optimize-side", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench/results/fairness.json"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="stylize-fairness-"))
    daemon_process = start_daemon(folder / "daemon.log")
    alone: list[float] = []
    during: list[float] = []
    iterations_while_fast: list[int] = []
    try:
        with client.StylizeClient(daemon_process.address, timeout=3600) as daemon:
            _fast(daemon, args.fast_side)  # warm-up at this size
            alone += [_fast(daemon, args.fast_side) for _ in range(args.rounds)]
            optimiser = client.StylizeClient(daemon_process.address, timeout=3600)
            iteration = [0]
            running = threading.Event()

            def on_progress(progress: pb.Progress) -> None:
                if progress.stage == pb.Progress.STAGE_OPTIMIZING:
                    iteration[0] = progress.iteration
                    if progress.iteration >= 3:
                        running.set()

            content = encode(sample_photo(args.optimize_side, args.optimize_side))
            options = pb.OptimizeOptions(iterations=100_000, scales=[args.optimize_side])
            thread = threading.Thread(
                target=optimiser.stylize,
                args=(content, [STYLE]),
                kwargs={"optimize": options, "on_progress": on_progress},
            )
            thread.start()
            running.wait(600)
            for _ in range(args.rounds):
                before = iteration[0]
                during.append(_fast(daemon, args.fast_side))
                iterations_while_fast.append(iteration[0] - before)
                time.sleep(1.0)  # let the optimisation run between fast jobs
            optimiser.finish()
            thread.join(600)
            optimiser.close()
            alone += [_fast(daemon, args.fast_side) for _ in range(args.rounds)]
    finally:
        stop_daemon(daemon_process)
    result = {
        "cpu": _cpu(),
        "fast_side": args.fast_side,
        "optimize_side": args.optimize_side,
        "alone_s": alone,
        "during_s": during,
        "iterations_during_each_fast_job": iterations_while_fast,
        "median_alone_s": statistics.median(alone),
        "median_during_s": statistics.median(during),
        "ratio": statistics.median(during) / statistics.median(alone),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

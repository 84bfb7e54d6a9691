"""Seconds per iteration of the optimisation method, and its peak memory.

    .venv/bin/python bench/optimize_iteration.py [--sizes 256 512] [--iterations 3]
                                                 [--precisions fp32 bf16] [--rounds 1]

Content: the bundled astronaut photo resized to SIZE x SIZE; style: the bundled Starry
Night with the same long side (style_scale 1). Default options otherwise (content
block4_conv2, style block1_conv1..block5_conv1), one scale (no coarse-to-fine).

Every (optimizer, size, precision) runs in its own process, so peak RSS is per case.
A worker loads VGG19, notes its RSS, runs WARM_UP + ITERATIONS iterations and times
the last ITERATIONS from the progress callbacks (the first ones trace the graph):
median and minimum (the machine is shared; the minimum is the least disturbed).
It also counts value-and-gradient evaluations per iteration.
L-BFGS iterations include SciPy's line search (about 1 to 1.5 evaluations each).
``bf16`` builds VGG19 under Keras's ``mixed_bfloat16`` policy (engine precision
"bfloat16"): convolutions run in bfloat16, weights, losses and the image stay float32.
Results: table on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
RESULTS = REPO / "bench" / "results"
WARM_UP = 2


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_evaluations() -> list[int]:
    """Count value-and-gradient evaluations (L-BFGS's line search may need several)."""
    from stylize.engine.optimization.objective import Objective

    calls = [0]
    original = Objective.evaluate

    def counting(self, targets, weights):
        evaluate = original(self, targets, weights)

        def counted(image):
            calls[0] += 1
            return evaluate(image)

        return counted

    Objective.evaluate = counting  # type: ignore[method-assign]
    return calls


def worker(optimizer: str, size: int, precision: str, iterations: int) -> dict:
    import numpy as np
    from PIL import Image
    from stylize.engine.images import PixelMode, Pixels
    from stylize.engine.optimization import OptimizationEngine, OptimizeOptions

    def load(path: Path) -> Pixels:
        image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        return Pixels(np.asarray(image), PixelMode.RGB)

    content, style = load(SAMPLES / "astronaut.jpg"), load(SAMPLES / "styles/starry_night.jpg")
    calls = count_evaluations()
    engine = OptimizationEngine(precision={"fp32": "float32", "bf16": "bfloat16"}[precision])
    idle_rss = _status_mb("VmRSS")
    stamps: list[float] = []
    totals: list[float] = []

    def progress(event) -> None:
        stamps.append(time.perf_counter())
        totals.append(event.losses.total)

    options = OptimizeOptions(iterations=WARM_UP + iterations, optimizer=optimizer, scales=(size,))
    started = time.perf_counter()
    engine.run(content, [(style, 1.0)], options, progress)
    per_iteration = [b - a for a, b in zip(stamps[WARM_UP - 1 :], stamps[WARM_UP:], strict=False)]
    return {
        "optimizer": optimizer,
        "size": size,
        "precision": precision,
        "seconds_per_iteration": statistics.median(per_iteration),
        "min_seconds_per_iteration": min(per_iteration),
        "evaluations_per_iteration": calls[0] / len(stamps),
        "all_seconds": per_iteration,
        "first_iteration_s": stamps[0] - started,
        "idle_rss_mb": idle_rss,
        "peak_rss_mb": _status_mb("VmHWM"),
        "loss_first": totals[0],
        "loss_last": totals[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--optimizers", nargs="+", default=["adam", "lbfgs"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        optimizer, size, precision, iterations = args.worker
        print(json.dumps(worker(optimizer, int(size), precision, int(iterations))))
        return
    rows = []
    cases = [
        (optimizer, size, precision)
        for size in args.sizes
        for precision in args.precisions
        for optimizer in args.optimizers
    ]
    for round_index in range(args.rounds):  # interleaved, so background load hits all alike
        for optimizer, size, precision in cases:
            case = [optimizer, str(size), precision, str(args.iterations)]
            output = subprocess.run(
                [sys.executable, __file__, "--worker", *case],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            row = json.loads(output.strip().splitlines()[-1])
            rows.append({**row, "round": round_index})
            print(
                f"round {round_index} {optimizer:6} {size:5} {precision:5} "
                f"{row['seconds_per_iteration']:7.3f} s/it "
                f"(min {row['min_seconds_per_iteration']:.3f}, "
                f"{row['evaluations_per_iteration']:.2f} evaluations/it)  "
                f"idle {row['idle_rss_mb']:6.0f} MB  peak {row['peak_rss_mb']:6.0f} MB",
                flush=True,
            )
    print("\nmedian over rounds:")
    for optimizer, size, precision in cases:
        mine = [
            r
            for r in rows
            if (r["optimizer"], r["size"], r["precision"]) == (optimizer, size, precision)
        ]
        seconds = statistics.median(r["seconds_per_iteration"] for r in mine)
        fastest = min(r["min_seconds_per_iteration"] for r in mine)
        evaluations = statistics.median(r["evaluations_per_iteration"] for r in mine)
        peak = max(r["peak_rss_mb"] for r in mine)
        extra = max(r["peak_rss_mb"] - r["idle_rss_mb"] for r in mine)
        print(
            f"{optimizer:6} {size:5} {precision:5} {seconds:7.3f} s/it (min {fastest:.3f}, "
            f"{evaluations:.2f} ev/it)  peak {peak:6.0f} MB  "
            f"above idle {extra:6.0f} MB ({extra * 2**20 / size**2:5.0f} B/px)"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "optimize-iteration.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Seconds per iteration of the optimisation method with two regions against none.

    .venv/bin/python bench/optimize_regions.py [--size 256] [--iterations 4] [--rounds 5]
                                               [--optimizer lbfgs] [--precision auto]

Content: the bundled astronaut photo at SIZE x SIZE; styles: Starry Night and The Great
Wave at SIZE x SIZE (style_scale 1). Kinds: **one** (Starry Night alone), **mix** (both
styles, weights 1:1, no masks: today's blended target) and **regions** (Starry Night in
the left half, The Great Wave in the right: two hard complementary masks, the guided
Gram matrices of engine/optimization/guidance.py). Default options otherwise, one scale.

One process, one engine. First the cost of one value-and-gradient evaluation (what an
Adam iteration costs; an L-BFGS iteration makes 1 to 1.5): the kinds' compiled
objectives alternate call by call, REPEATS calls each after a traced warm-up, so the
shared machine's load hits them alike; wall and process CPU seconds (the CPU seconds
suffer less from the other processes). Then whole runs (--rounds, 0: none): the kinds
alternate run by run, each WARM_UP iterations (the first traces) then ITERATIONS timed
from the progress callbacks, evaluations counted. Medians and minima per kind.
JSON in bench/results/optimize-regions-PRECISION.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from optimize_iteration import count_evaluations
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
RESULTS = REPO / "bench" / "results"
WARM_UP = 2
KINDS = ("one", "mix", "regions")


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--optimizer", default="lbfgs")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    import tensorflow as tf
    from stylize.engine.images import PixelMode, Pixels
    from stylize.engine.optimization import guidance
    from stylize.engine.optimization.guidance import StyleMasks
    from stylize.engine.optimization.method import OptimizationEngine, OptimizeOptions
    from stylize.engine.optimization.objective import Weights

    size = args.size

    def load(path: Path) -> Pixels:
        image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        return Pixels(np.asarray(image), PixelMode.RGB)

    content = load(SAMPLES / "astronaut.jpg")
    starry, wave = (
        load(SAMPLES / "styles/starry_night.jpg"),
        load(SAMPLES / "styles/great_wave.jpg"),
    )
    left = np.zeros((size, size), np.float32)
    left[:, : size // 2] = 1
    runs = {
        "one": ([(starry, 1.0)], None),
        "mix": ([(starry, 1.0), (wave, 1.0)], None),
        "regions": ([(starry, 1.0), (wave, 1.0)], [StyleMasks(left), StyleMasks(1 - left)]),
    }
    calls = count_evaluations()
    engine = OptimizationEngine(precision=args.precision)
    options = OptimizeOptions(
        iterations=WARM_UP + args.iterations, optimizer=args.optimizer, scales=(size,)
    )
    objective = engine.objective(options)
    weights = Weights(
        options.content_weight, options.style_weight, options.tv_weight, options.style_layers
    )
    evaluate = {}
    for kind, (styles, masks) in runs.items():
        plan = guidance.plan(
            [w for _, w in styles], masks, (size, size), [(size, size)] * len(styles)
        )
        rgbs = [style.rgb() for style, _ in styles]
        if plan.regions is None:
            targets = objective.targets(content.rgb(), list(zip(rgbs, plan.weights, strict=True)))
        else:
            style_weights = plan.style_weights(size, size)
            targets = objective.guided_targets(
                content.rgb(), rgbs, [None] * len(rgbs), style_weights
            )
        evaluate[kind] = objective.evaluate(targets, weights)
    image = tf.constant(content.rgb()[None], tf.float32)
    per_evaluation: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpu_per_evaluation: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for repeat in range(-2, args.repeats):  # two untimed: tracing
        for kind in KINDS:
            begun, cpu = time.perf_counter(), time.process_time()
            evaluate[kind](image)[1].numpy()
            if repeat >= 0:
                per_evaluation[kind].append(time.perf_counter() - begun)
                cpu_per_evaluation[kind].append(time.process_time() - cpu)
    for kind in KINDS:
        wall, cpu = per_evaluation[kind], cpu_per_evaluation[kind]
        print(f"{kind:8} evaluation: median {statistics.median(wall):.3f} s, min {min(wall):.3f}"
              f" s, CPU median {statistics.median(cpu):.3f} s", flush=True)  # fmt: skip
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    evaluations: dict[str, list[float]] = {kind: [] for kind in KINDS}
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for round_index in range(args.rounds):
        for kind in KINDS:
            styles, masks = runs[kind]
            stamps: list[float] = []
            calls[0] = 0
            engine.run(content, styles, options, lambda _, s=stamps: s.append(time.perf_counter()),
                       masks=masks)  # fmt: skip
            timed = [b - a for a, b in zip(stamps[WARM_UP - 1 :], stamps[WARM_UP:], strict=False)]
            seconds[kind] += timed
            evaluations[kind].append(calls[0] / len(stamps))
            print(f"round {round_index} {kind:8} {statistics.median(timed):.3f} s/it", flush=True)
    rows = [
        {
            "kind": kind,
            "median_seconds_per_evaluation": statistics.median(per_evaluation[kind]),
            "min_seconds_per_evaluation": min(per_evaluation[kind]),
            "median_cpu_seconds_per_evaluation": statistics.median(cpu_per_evaluation[kind]),
            "all_evaluation_seconds": per_evaluation[kind],
            **(
                {
                    "median_seconds_per_iteration": statistics.median(seconds[kind]),
                    "min_seconds_per_iteration": min(seconds[kind]),
                    "evaluations_per_iteration": statistics.mean(evaluations[kind]),
                    "all_iteration_seconds": seconds[kind],
                }
                if seconds[kind]
                else {}
            ),
        }
        for kind in KINDS
    ]
    print(f"\n{args.size}x{args.size}, {engine.vgg.precision}, {_cpu()}")
    print("| kind | median s/eval | min s/eval | CPU s/eval | median vs one | CPU vs one |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        median, least = row["median_seconds_per_evaluation"], row["min_seconds_per_evaluation"]
        cpu = row["median_cpu_seconds_per_evaluation"]
        print(
            f"| {row['kind']} | {median:.3f} | {least:.3f} | {cpu:.3f} | "
            f"{median / rows[0]['median_seconds_per_evaluation']:.2f}x | "
            f"{cpu / rows[0]['median_cpu_seconds_per_evaluation']:.2f}x |"
        )
    if args.rounds:
        print(f"\nwhole runs, {args.optimizer}:")
        print("| kind | median s/it | min s/it | evals/it |")
        print("|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['kind']} | {row['median_seconds_per_iteration']:.3f} | "
                f"{row['min_seconds_per_iteration']:.3f} | {row['evaluations_per_iteration']:.2f} |"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"optimize-regions-{engine.vgg.precision}.json").write_text(
        json.dumps(
            {
                "started": started,
                "size": size,
                "optimizer": args.optimizer,
                "precision": engine.vgg.precision,
                "cpu": _cpu(),
                "rounds": args.rounds,
                "repeats": args.repeats,
                "rows": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()

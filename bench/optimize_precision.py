"""float32 vs bfloat16 in one process: the time of one iteration, and the quality.

    .venv/bin/python bench/optimize_precision.py [--size 256] [--repeats 12]
                                                 [--iterations 40]

Content: the bundled astronaut at SIZE x SIZE, style: Starry Night at the same size,
default options, one scale.

1. Time: one value-and-gradient evaluation (the cost of an iteration, which both
   optimisers share) timed REPEATS times per precision, the two precisions alternating
   so that background load on a shared machine hits both alike; median and minimum.
2. Quality: each precision runs ITERATIONS iterations of both optimisers; every final
   image is scored by the same float32 objective (a one-iteration Adam run from it as
   init image reports the loss of its start). Wall time is the whole run; evaluations
   counts the value-and-gradient calls (L-BFGS's line search may need several).
Results on stdout.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from optimize_iteration import count_evaluations
from PIL import Image
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.optimization import OptimizationEngine, OptimizeOptions
from stylize.engine.optimization.objective import Weights

SAMPLES = Path(__file__).resolve().parent.parent / "daemon" / "stylize" / "samples"


def time_iterations(
    engines: dict[str, OptimizationEngine], content: Pixels, style: Pixels, size: int, repeats: int
) -> None:
    options = OptimizeOptions(scales=(size,))
    evaluations = {}
    start = tf.constant(content.rgb()[None].astype(np.float32))
    for name, engine in engines.items():
        objective = engine.objective(options)
        targets = objective.targets(content.rgb(), [(style.rgb(), 1.0)])
        weights = Weights(
            options.content_weight, options.style_weight, options.tv_weight, options.style_layers
        )
        evaluations[name] = objective.evaluate(targets, weights)
        evaluations[name](start)  # trace
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, evaluate in evaluations.items():
            started = time.perf_counter()
            _, gradient = evaluate(start)
            gradient.numpy()
            seconds[name].append(time.perf_counter() - started)
    for name, times in seconds.items():
        print(
            f"{name:9} one iteration at {size} px: median {statistics.median(times):.3f} s, "
            f"min {min(times):.3f} s ({repeats} alternating repeats)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    size = args.size

    def load(path: Path) -> Pixels:
        image = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        return Pixels(np.asarray(image), PixelMode.RGB)

    content, style = load(SAMPLES / "astronaut.jpg"), load(SAMPLES / "styles/starry_night.jpg")
    engines = {name: OptimizationEngine(precision=name) for name in ("float32", "bfloat16")}

    time_iterations(engines, content, style, size, args.repeats)

    def score(image: Pixels) -> float:
        losses: list[float] = []
        options = OptimizeOptions(iterations=1, optimizer="adam", init="image", scales=(size,))
        engines["float32"].run(
            content,
            [(style, 1.0)],
            options,
            lambda e: losses.append(e.losses.total),
            None,
            init_image=image,
        )
        return losses[0]

    calls = count_evaluations()
    for optimizer in ("lbfgs", "adam"):
        for name, engine in engines.items():
            calls[0] = 0
            options = OptimizeOptions(
                iterations=args.iterations, optimizer=optimizer, scales=(size,)
            )
            started = time.perf_counter()
            result = engine.run(content, [(style, 1.0)], options)
            elapsed = time.perf_counter() - started
            evaluations = calls[0]
            print(
                f"{optimizer:6} {name:9} {args.iterations} it at {size} px: {elapsed:6.1f} s, "
                f"{evaluations} evaluations, "
                f"final loss (float32 objective) {score(result):.4g}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Is the time per megapixel flat? A small and a large image alternating in one process.

    .venv/bin/python bench/flat_rate.py [--small 2048] [--large 8192] [--rounds 3]

One process with the daemon's malloc tuning and the engine's warm-up (the backend the
daemon would pick, network at full resolution), then ROUNDS rounds of: the median of
five runs of the bundled astronaut photo at SMALL, then one run at LARGE. Each round
prints both rates (wall and process CPU seconds per megapixel) and their ratio; the
median ratio is the figure (the issue's target: at most 1.15). Alternating in one
process puts the machine's background load on both sizes alike, and the CPU-time ratio
is steadier than the wall-time one on a shared machine. This is the engine alone:
bench/benchmark.py measures the same through gRPC, in separate processes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

# bench/ is on sys.path when run as a script
from benchmark import RESULTS, content_rgb, full_resolution, parse_size, peak_rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", default="2048")
    parser.add_argument("--large", default="8192")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    import numpy as np
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine()
    engine.warm_up()
    vector = np.random.default_rng(0).normal(0.0, 0.1, 100).astype(np.float32)
    sizes = [parse_size(args.small), parse_size(args.large)]
    photos = [images.Pixels(content_rgb(w, h), images.PixelMode.RGB) for w, h in sizes]
    megapixels = [w * h / 1e6 for w, h in sizes]

    def rate(index: int, runs: int) -> tuple[float, float]:
        """Median wall and CPU seconds per megapixel of ``runs`` stylizations."""
        walls, cpus = [], []
        for _ in range(runs):
            wall, cpu = time.perf_counter(), time.process_time()
            engine.stylize(photos[index], vector, full_resolution())
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        return (
            statistics.median(walls) / megapixels[index],
            statistics.median(cpus) / megapixels[index],
        )

    rate(0, 2), rate(1, 1)  # each size's first run (new shapes) is not timed
    rounds = []
    print(f"backend {engine.backend.name}; s/MP wall (CPU), {args.small} vs {args.large}")
    for number in range(args.rounds):
        small, large = rate(0, 5), rate(1, 1)
        rounds.append(
            {
                "small": small,
                "large": large,
                "ratio": large[0] / small[0],
                "cpu_ratio": large[1] / small[1],
            }
        )
        print(
            f"round {number + 1}: {small[0]:.4f} ({small[1]:.4f}) vs {large[0]:.4f} "
            f"({large[1]:.4f}): ratio {large[0] / small[0]:.3f}, CPU {large[1] / small[1]:.3f}",
            flush=True,
        )
    ratio = statistics.median(r["ratio"] for r in rounds)
    cpu_ratio = statistics.median(r["cpu_ratio"] for r in rounds)
    print(f"median ratio {ratio:.3f} (CPU {cpu_ratio:.3f}); peak RSS {peak_rss_mb():.0f} MB")
    report = {
        "small": args.small,
        "large": args.large,
        "backend": engine.backend.name,
        "rounds": rounds,
        "median_ratio": ratio,
        "median_cpu_ratio": cpu_ratio,
    }
    (RESULTS / "flat-rate.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time and peak memory of one large image, whole-image vs strip path, each in its own process.

    .venv/bin/python bench/large_images.py [--sizes 2048x2048 4000x3000 6000x4000 8192x8192]
        [--depths u8 u16 f32]   # 8-bit (default), 16-bit and float content (Precision)

Each measurement is a fresh process (so VmHWM is that path's peak), with the daemon's
malloc tuning, the engine's warm-up, then one timed stylization of a noise image (the
engine's default backend). The idle process's peak is printed too: memory_budget.py's
per-pixel estimates are (peak - idle) / pixels, rounded up. The whole-image path is
measured up to WHOLE_UP_TO pixels (beyond, it needs more memory than the machine has).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

# bench/ is on sys.path when run as a script
from benchmark import full_resolution, peak_rss_mb

WHOLE_UP_TO = 12_000_000


def measure(width: int, height: int, strips: bool, depth: str = "u8") -> dict:
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    import numpy as np
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    engine = StyleEngine(max_whole_pixels=0 if strips else 10**12)
    engine.warm_up()
    vector = np.zeros(100, np.float32)
    rng = np.random.default_rng(0)
    idle = peak_rss_mb()
    noise = rng.integers(0, 255, (height, width, 3), np.uint8)
    if depth == "u16":
        noise = noise.astype(np.uint16) * 257
    elif depth == "f32":
        noise = noise.astype(np.float32) / 255.0
    pixels = images.Pixels(noise, images.PixelMode.RGB)
    started = time.perf_counter()
    engine.stylize(pixels, vector, full_resolution())
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    return {
        "size": f"{width}x{height}",
        "path": "strips" if strips else "whole",
        "depth": depth,
        "seconds": seconds,
        "peak_rss_mb": peak,
        "idle_rss_mb": idle,
        "bytes_per_pixel": (peak - idle) * 2**20 / (width * height),
        "backend": engine.backend.name,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", default=["2048x2048", "4000x3000", "6000x4000", "8192x8192"]
    )
    parser.add_argument("--depths", nargs="+", default=["u8"], choices=["u8", "u16", "f32"])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--depth", default="u8", help=argparse.SUPPRESS)
    parser.add_argument("--strips", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        width, height = map(int, args.one.split("x"))
        print(json.dumps(measure(width, height, args.strips, args.depth)))
        return 0
    print("| size | path | depth | time | s/MP | peak RSS (process) | idle | bytes/pixel |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        width, height = map(int, size.split("x"))
        runs = [
            (strips, depth)  # depths interleaved, so machine load falls on each alike
            for strips in ((False, True) if width * height <= WHOLE_UP_TO else (True,))
            for depth in args.depths
        ]
        for strips, depth in runs:
            command = [sys.executable, __file__, "--one", size, "--depth", depth]
            command += ["--strips"] if strips else []
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            cells = (
                row["size"],
                f"{row['path']} ({row['backend']})",
                row["depth"],
                f"{row['seconds']:.2f} s",
                f"{row['seconds'] / (width * height / 1e6):.3f}",
                f"{row['peak_rss_mb']:.0f} MB",
                f"{row['idle_rss_mb']:.0f} MB",
                f"{row['bytes_per_pixel']:.0f}",
            )
            print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

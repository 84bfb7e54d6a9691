"""Time and peak memory at the default stroke scale beside full resolution, in one run.

    .venv/bin/python bench/stroke_scale.py --photo PHOTO [--sizes 1 12 24] [--rounds 2]
        [--settings default full]

PHOTO is a large real photo (BENCHMARKS.md names the CC0 one used and where it comes
from); it is resized (Lanczos) to each size in megapixels, keeping its aspect ratio.
Each measurement is a fresh process (so VmHWM is that setting's own peak) with the
daemon's malloc tuning and the engine's warm-up; it stylizes the photo with the
bundled Starry Night twice and reports both: the first call pays for the backend's
preparation of a new image size, the second is the steady state. Settings and sizes
run in interleaved rounds, so background load on the shared machine hits all alike.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmark import peak_rss_mb  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
STYLE = REPO / "daemon" / "stylize" / "samples" / "styles" / "starry_night.jpg"
SETTINGS = {"default": 1.0, "full": 1 / 64}  # stroke scale 1, and full resolution


def size_for(photo: Path, megapixels: float) -> tuple[int, int]:
    from PIL import Image

    with Image.open(photo) as image:
        width, height = image.size
    scale = math.sqrt(megapixels * 1e6 / (width * height))
    return round(width * scale), round(height * scale)


def measure(photo: Path, megapixels: float, setting: str) -> dict:
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    import numpy as np
    from PIL import Image
    from stylize.engine import images
    from stylize.engine.stroke_scale import working_size
    from stylize.engine.style_engine import StyleEngine, StylizeOptions

    engine = StyleEngine()
    engine.warm_up()
    style = images.decode(STYLE.read_bytes(), images.ImageLimits(), "style")
    vector = engine.style_vector(style)
    width, height = size_for(photo, megapixels)
    with Image.open(photo) as image:
        rgb = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS))
    content = images.Pixels(rgb, images.PixelMode.RGB)
    options = StylizeOptions(stroke_scale=SETTINGS[setting])
    idle = peak_rss_mb()
    times = []
    for _ in range(2):
        started = time.perf_counter()
        engine.stylize(content, vector, options)
        times.append(time.perf_counter() - started)
    work = working_size(width, height, options.stroke_scale)
    return {
        "size": f"{width}x{height}",
        "megapixels": megapixels,
        "setting": setting,
        "working_size": f"{work[0]}x{work[1]}",
        "strips": work[0] * work[1] > engine.max_whole_pixels,
        "first_s": times[0],
        "steady_s": times[1],
        "peak_rss_mb": peak_rss_mb(),
        "idle_rss_mb": idle,
        "backend": engine.backend.name,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", type=float, default=[1, 12, 24], help="megapixels")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "stroke.json")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.photo, float(args.one[0]), args.one[1])))
        return 0
    rows: dict[tuple[float, str], list[dict]] = {}
    for _ in range(args.rounds):
        for megapixels in args.sizes:
            for setting in args.settings:
                command = [sys.executable, __file__, "--photo", str(args.photo)]
                command += ["--one", str(megapixels), setting]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.setdefault((megapixels, setting), []).append(row)
                print(json.dumps(row), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([r for runs in rows.values() for r in runs], indent=1))
    print("| size | setting | working size | first call | steady (median) | peak RSS |")
    print("|---|---|---|---|---|---|")
    for (_, setting), runs in rows.items():
        first = statistics.median(r["first_s"] for r in runs)
        steady = statistics.median(r["steady_s"] for r in runs)
        peak = max(r["peak_rss_mb"] for r in runs)
        row = runs[0]
        label = "stroke scale 1 (default)" if setting == "default" else "full resolution"
        work = row["working_size"] + (", strips" if row["strips"] else "")
        cells = (row["size"], label, work, f"{first:.2f} s", f"{steady:.2f} s", f"{peak:.0f} MB")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

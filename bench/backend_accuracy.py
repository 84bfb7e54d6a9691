"""How far the default backend's outputs are from TensorFlow float32, on real photos.

    .venv/bin/python bench/backend_accuracy.py [--sizes 300x220 2048x2048]

For each bundled photo (astronaut, chelsea) resized to each size and each bundled style,
the engine's default backend (OpenVINO bf16 on a CPU with bf16) stylizes the photo whole
and in strips (64 rows at 300 x 220, the engine's own strip height above), and both are
compared with TensorFlow float32's whole image: mean, 99th and 99.9th percentile and
maximum of |difference| in levels of 255. tests/test_backends.py enforces the bound on
two of these cases; BENCHMARKS.md "Accuracy" states it from this script's output.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

# bench/ is on sys.path when run as a script
from benchmark import REPO, SAMPLES, full_resolution, parse_size
from PIL import Image

STYLES = ("starry_night", "great_wave", "shipwreck", "dance_foyer")
PHOTOS = ("astronaut", "chelsea")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["300x220", "2048x2048"])
    args = parser.parse_args()
    from stylize.engine import images
    from stylize.engine.backends import TensorFlowBackend
    from stylize.engine.style_engine import StyleEngine

    reference = StyleEngine(backend=TensorFlowBackend(reason="reference"))
    engine = StyleEngine()
    rows = []
    for size in args.sizes:
        width, height = parse_size(size)
        for photo in PHOTOS:
            image = Image.open(SAMPLES / f"{photo}.jpg").convert("RGB").resize((width, height))
            pixels = images.Pixels(np.asarray(image), images.PixelMode.RGB)
            for style in STYLES:
                data = (SAMPLES / "styles" / f"{style}.jpg").read_bytes()
                vector = reference.style_vector(images.decode(data, images.ImageLimits(), "style"))
                reference.max_whole_pixels = 10**12
                full = full_resolution()
                expected = reference.stylize(pixels, vector, full).array.astype(np.int16)
                for strips in (False, True):
                    engine.max_whole_pixels = 0 if strips else 10**12
                    engine.strip_rows = 64 if strips and width * height < 10**6 else 0
                    got = engine.stylize(pixels, vector, full).array.astype(np.int16)
                    difference = np.abs(got - expected)
                    rows.append(
                        {
                            "size": size,
                            "photo": photo,
                            "style": style,
                            "path": "strips" if strips else "whole",
                            "backend": engine.backend.name,
                            "mean": float(difference.mean()),
                            "p99": float(np.percentile(difference, 99)),
                            "p999": float(np.percentile(difference, 99.9)),
                            "max": int(difference.max()),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    (REPO / "bench" / "results").mkdir(exist_ok=True)
    (REPO / "bench" / "results" / "backend-accuracy.json").write_text(json.dumps(rows, indent=2))
    for size in args.sizes:
        for path in ("whole", "strips"):
            picked = [r for r in rows if r["size"] == size and r["path"] == path]
            spans = {
                key: (min(r[key] for r in picked), max(r[key] for r in picked))
                for key in ("mean", "p99", "p999", "max")
            }
            cells = [f"{low:.2f} - {high:.2f}" for low, high in [spans["mean"]]]
            cells += [
                f"{low:g} - {high:g}"
                for key in ("p99", "p999", "max")
                for low, high in [spans[key]]
            ]
            print(f"| {size} | {path} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

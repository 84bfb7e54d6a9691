"""Outputs of a fixed set of requests, as sha256 digests, to compare two checkouts.

The fast method runs on the TensorFlow backend (STYLIZE_BACKEND=tensorflow), where the
same code gives the same bytes; a refactor must leave every digest unchanged. The
requests go through `stylize apply --local`, the same job builder and job core as the
daemon's. Run it once per checkout and compare:

    .venv/bin/python bench/same_outputs.py > after.txt
    PYTHONPATH=/path/to/before/daemon .venv/bin/python bench/same_outputs.py > before.txt
    diff before.txt after.txt
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"

CASES: dict[str, list[str]] = {
    "one style": ["-s", "starry_night"],
    "two styles mixed": ["-s", "starry_night:2", "-s", "great_wave:1"],
    "strength 0.4": ["-s", "starry_night", "--strength", "0.4"],
    "preserve colours": ["-s", "starry_night", "--preserve-colors"],
    "colour match content": ["-s", "starry_night", "--color-match", "content"],
    "colour match style": ["-s", "starry_night", "--color-match", "style"],
    "stroke scale 2": ["-s", "starry_night", "--stroke-scale", "2"],
    "full resolution": ["-s", "starry_night", "--stroke-scale", "full"],
    "max side 128": ["-s", "starry_night", "--max-side", "128"],
    "style size 128, no crop": ["-s", "starry_night", "--style-size", "128", "--no-crop"],
}
CONTENTS = {
    "rgb": lambda: Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((256, 192)),
    "rgba": lambda: Image.open(SAMPLES / "chelsea.jpg").convert("RGBA").resize((200, 150)),
    "gray": lambda: Image.open(SAMPLES / "chelsea.jpg").convert("L").resize((160, 120)),
}
OPTIMIZE = ["--method", "optimize", "--iterations", "3", "--max-side", "96"]


def main() -> None:
    env = dict(os.environ, STYLIZE_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for content_name, make in CONTENTS.items():
            content = work / f"{content_name}.png"
            make().save(content)
            cases = dict(CASES)
            if content_name == "rgb":
                cases["optimisation, 3 iterations"] = ["-s", "starry_night", *OPTIMIZE]
                sixteen = work / "rgb16.png"
                array = np.asarray(Image.open(content), np.uint16) * 257
                import cv2

                cv2.imwrite(str(sixteen), array[..., ::-1])
            for name, args in cases.items():
                out = work / "out.png"
                command = [sys.executable, "-m", "stylize", "apply", "--local", "-q"]
                subprocess.run([*command, str(content), *args, "-o", str(out)], env=env, check=True)
                print(
                    f"{content_name:5s} {name:28s} {hashlib.sha256(out.read_bytes()).hexdigest()}"
                )
        out = work / "out.png"
        command = [
            sys.executable,
            "-m",
            "stylize",
            "apply",
            "--local",
            "-q",
            str(work / "rgb16.png"),
        ]
        subprocess.run([*command, "-s", "starry_night", "-o", str(out)], env=env, check=True)
        print(f"rgb16 {'one style':28s} {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()

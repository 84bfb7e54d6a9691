"""TensorFlow's oneDNN allocator against malloc (TF_ONEDNN_USE_SYSTEM_ALLOCATOR) for the
optimisation method: time, peak RSS, and RSS kept after the run.

    .venv/bin/python bench/onednn_allocator.py [--rounds 3] [--iterations 10]

server/malloc_tuning.py sets TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1 so that the idle release's
malloc_trim can give oneDNN's blocks back (its own pool kept 1.3 GB after one thin
optimisation). This checks what that costs: each run in a fresh process (the variable is
read when TensorFlow loads) with the daemon's malloc settings, the variable 1 or 0
alternating run by run; a 512 x 384 optimisation of the bundled photo with Starry Night,
default options; wall and CPU seconds of the run (VGG19's load apart), peak RSS (VmHWM)
and RSS after the run and a malloc_trim. JSON: bench/results/onednn-allocator.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

_RUN = r"""
import ctypes, json, sys, time
from stylize.server.malloc_tuning import tune_malloc
tune_malloc()  # as the daemon does, before TensorFlow loads (setdefault keeps our value)
import numpy as np
from PIL import Image
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.optimization.method import OptimizationEngine, OptimizeOptions

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

samples = sys.argv[1]
photo = Image.open(samples + "/astronaut.jpg").convert("RGB").resize((512, 384))
style = Image.open(samples + "/styles/starry_night.jpg").convert("RGB")
engine = OptimizationEngine()
idle = rss("VmRSS")
wall, cpu = time.perf_counter(), time.process_time()
content = Pixels(np.asarray(photo), PixelMode.RGB)
painting = Pixels(np.asarray(style), PixelMode.RGB)
engine.run(content, [(painting, 1.0)], OptimizeOptions(iterations=int(sys.argv[2])))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
ctypes.CDLL("libc.so.6").malloc_trim(0)
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "idle_mb": idle, "peak_mb": rss("VmHWM"),
                  "after_trim_mb": rss("VmRSS")}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args()
    from benchmark import cpu_description

    samples = str(REPO / "daemon" / "stylize" / "samples")
    runs: dict[str, list[dict]] = {"1": [], "0": []}
    for _ in range(args.rounds):
        for value in runs:
            env = dict(os.environ, TF_ONEDNN_USE_SYSTEM_ALLOCATOR=value, TF_CPP_MIN_LOG_LEVEL="2")
            done = subprocess.run(
                [sys.executable, "-c", _RUN, samples, str(args.iterations)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            runs[value].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(value, runs[value][-1], flush=True)
    summary = {
        value: {key: statistics.median(run[key] for run in rows) for key in rows[0]}
        for value, rows in runs.items()
    }
    result = {
        "method": "bench/onednn_allocator.py",
        "cpu": cpu_description(),
        "load_average": os.getloadavg(),
        "iterations": args.iterations,
        "median": summary,
        "runs": runs,
    }
    text = json.dumps(result, indent=1)
    print(text)
    (REPO / "bench" / "results" / "onednn-allocator.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

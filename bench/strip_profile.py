"""Where the time goes: CPU and wall seconds per graph, whole image or strips, in-process.

    .venv/bin/python bench/strip_profile.py 4096x4096 strips [--rows 0] [--runs 2]

One process, the daemon's malloc tuning, the engine's warm-up, then RUNS stylizations of
the bundled astronaut photo resized to the size (a zero style vector); for the last one
every backend call is timed by graph. CPU seconds (the process's, all threads) are the
figure to read on a shared machine: other tenants' load inflates wall time many times
over but CPU time far less. "outside" is wall time spent between backend calls (numpy
copies of strips, moments merged, reflect padding).
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

# bench/ is on sys.path
from benchmark import SAMPLES, full_resolution, parse_size, peak_rss_mb


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("size")
    parser.add_argument("path", choices=["whole", "strips"])
    parser.add_argument("--rows", type=int, default=0, help="rows per strip (0: the engine's)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    import numpy as np
    from PIL import Image
    from stylize.engine import images
    from stylize.engine.style_engine import StyleEngine

    width, height = parse_size(args.size)
    engine = StyleEngine(
        max_whole_pixels=0 if args.path == "strips" else 10**12, strip_rows=args.rows
    )
    engine.warm_up()
    backend = engine.backend
    names = {function: name.split("/")[-1] for function, name in backend._names.items()}
    spent: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    run = backend.run

    def timed_run(function, *arrays):
        wall, cpu = time.perf_counter(), time.process_time()
        outputs = run(function, *arrays)
        entry = spent[names.get(function, "?")]
        entry[0] += time.perf_counter() - wall
        entry[1] += time.process_time() - cpu
        entry[2] += 1
        return outputs

    backend.run = timed_run  # type: ignore[method-assign]
    photo = Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((width, height))
    pixels = images.Pixels(np.asarray(photo), images.PixelMode.RGB)
    megapixels = width * height / 1e6
    for index in range(args.runs):
        spent.clear()
        wall, cpu = time.perf_counter(), time.process_time()
        engine.stylize(pixels, np.zeros(100, np.float32), full_resolution())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"run {index + 1}: wall {wall:.2f} s ({wall / megapixels:.3f} s/MP), "
            f"CPU {cpu:.2f} s ({cpu / megapixels:.3f} CPU-s/MP)"
        )
    print(f"{backend.name}, {args.size} {args.path}; last run by graph:")
    for name, (wall_s, cpu_s, calls) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:24s} CPU {cpu_s:6.2f} s  wall {wall_s:6.2f} s  calls {calls}")
    print(f"  outside the backend: wall {wall - sum(v[0] for v in spent.values()):.2f} s")
    print(f"peak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

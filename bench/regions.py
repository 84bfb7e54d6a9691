"""Regions against one style: time and peak memory of the engine (issue 17's cost target).

    .venv/bin/python bench/regions.py [--sizes 1024 4000x3000 8192:full] [--rounds 3]
        [--repeats 3] [--timing-rounds 15]

A size is WIDTHxHEIGHT (or one side), at the default stroke scale (the network runs at
1024 px on the long side and the result is upsampled, guided by the photo), or with
``:full`` at full resolution (the smallest stroke scale: the network runs at the photo's
size, in strips beyond 8 MP).

Memory: each (size, kind) runs in its own process, so that each peak RSS (VmHWM) is its own;
the kinds alternate within each round (one, regions, regions+strength, one, ...), so
background load on a shared machine hits them alike. A process loads the engine with
the backend the daemon would pick and the daemon's malloc tuning, runs one untimed job
(compiles the graphs for that size; the regions graphs, one set per number of weight
channels K, are first converted and compiled on a 64-px image), then REPEATS timed jobs;
the figures are the medians over rounds of each process's median, and the peak RSS less
the RSS before the first job (the job's own memory: models and runtime are alike in every
kind).
Time: those processes' times are at the mercy of a shared machine's load from one
process to the next, so the time figures come from one more process per size in which
the kinds alternate job by job, TIMING_ROUNDS times (medians of wall and CPU seconds).

Kinds, on the bundled astronaut photo at the default stroke scale (the network runs
at 1024 px on the long side; a larger photo is upsampled after, guided by itself):
- ``one``: Starry Night alone (today's path);
- ``regions``: Starry Night in the left half, The Great Wave in the right (two hard,
  complementary masks at the photo's size: K = 2 weight channels);
- ``strength``: the same plus a strength map fading from 1 at the top to 0 at the
  bottom (the content's own vector becomes a third channel: K = 3).
Style vectors come from the engine's predictor (outside the timing). The masks are float32
at the photo's size, as the engine receives them (made before the job's memory is counted).
Each process records the load average when it ends (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# bench/ is on sys.path when run as a script
from benchmark import (
    RESULTS,
    content_rgb,
    cpu_description,
    full_resolution,
    parse_size,
    peak_rss_mb,
)

KINDS = ("one", "regions", "strength")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _options(size: str):
    """The engine's options for a size (``:full``: the network at the photo's size)."""
    from stylize.engine.style_engine import StylizeOptions

    return full_resolution() if size.endswith(":full") else StylizeOptions()


def _setup(size: str) -> tuple:
    """The engine (warmed up, regions graphs compiled), the photo and each kind's style."""
    from stylize.server.malloc_tuning import tune_malloc

    tune_malloc()
    import numpy as np
    from stylize.engine import images
    from stylize.engine.regions import RegionStyle, StyleRegions
    from stylize.engine.style_engine import StyleEngine

    samples = Path(__file__).resolve().parent.parent / "daemon" / "stylize" / "samples" / "styles"
    engine = StyleEngine()
    engine.warm_up()
    a, b = (
        engine.style_vector(
            images.decode((samples / f"{n}.jpg").read_bytes(), images.ImageLimits(), "style")
        )
        for n in ("starry_night", "great_wave")
    )

    def kinds(width: int, height: int) -> tuple[images.Pixels, dict]:
        photo = images.Pixels(content_rgb(width, height), images.PixelMode.RGB)
        left = np.zeros((height, width), np.float32)
        left[:, : width // 2] = 1
        fade = np.tile(np.linspace(1, 0, height, dtype=np.float32)[:, None], (1, width))
        two = [RegionStyle(a, mask=left), RegionStyle(b, mask=1 - left)]
        own = engine.style_vector(photo)
        return photo, {
            "one": a,
            "regions": StyleRegions(two),
            "strength": StyleRegions(two, strength_map=fade, content_vector=own),
        }

    small, styles = kinds(64, 64)
    for kind in ("regions", "strength"):  # converts and compiles the regions graphs (K = 2, 3)
        engine.stylize(small, styles[kind])
    return engine, *kinds(*parse_size(size.removesuffix(":full")))


def worker(size: str, kind: str, repeats: int) -> dict:
    engine, photo, styles = _setup(size)
    style, options = styles[kind], _options(size)
    before = _rss_mb()
    engine.stylize(photo, style, options)  # compiles this size's graphs
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.stylize(photo, style, options)
        seconds.append(time.perf_counter() - started)
    peak = peak_rss_mb()
    return {
        "seconds": statistics.median(seconds),
        "peak_rss_mb": peak,
        "job_peak_mb": peak - before,
        "backend": engine.backend.name,
        "load": os.getloadavg()[0],
    }


def timing(size: str, rounds: int) -> dict:
    """Time only, in one process: the kinds alternate job by job, ``rounds`` times (wall
    and process CPU seconds, medians): the machine's background load hits all alike."""
    engine, photo, styles = _setup(size)
    options = _options(size)
    for style in styles.values():
        engine.stylize(photo, style, options)  # this size's graphs
    walls: dict[str, list[float]] = {kind: [] for kind in KINDS}
    cpus: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(rounds):
        for kind in KINDS:
            wall, cpu = time.perf_counter(), time.process_time()
            engine.stylize(photo, styles[kind], options)
            walls[kind].append(time.perf_counter() - wall)
            cpus[kind].append(time.process_time() - cpu)
    summary = {
        kind: {"wall": statistics.median(walls[kind]), "cpu": statistics.median(cpus[kind])}
        for kind in KINDS
    }
    for kind in KINDS:
        for key in ("wall", "cpu"):
            summary[kind][f"{key}_ratio"] = summary[kind][key] / summary["one"][key]
    summary["load"] = os.getloadavg()[0]
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", nargs="+", default=["1024"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timing-rounds", type=int, default=15)
    parser.add_argument("--worker", nargs=2, metavar=("SIZE", "KIND"))
    parser.add_argument("--timing", metavar="SIZE")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.repeats)))
        return 0
    if args.timing:
        print(json.dumps(timing(args.timing, args.timing_rounds)))
        return 0
    report: dict = {"cpu": cpu_description(), "sizes": {}, "timing": {}}
    print(report["cpu"])
    for size in args.sizes:
        runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        for round_ in range(args.rounds):
            for kind in KINDS:
                command = [sys.executable, __file__, "--worker", size, kind]
                command += ["--repeats", str(args.repeats)]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(size, round_, kind, runs[kind][-1], flush=True)
        summary = {
            kind: {
                key: statistics.median(r[key] for r in results)
                for key in ("seconds", "peak_rss_mb", "job_peak_mb")
            }
            for kind, results in runs.items()
        }
        base = summary["one"]
        for kind in KINDS:
            summary[kind]["time_ratio"] = summary[kind]["seconds"] / base["seconds"]
            summary[kind]["peak_ratio"] = summary[kind]["peak_rss_mb"] / base["peak_rss_mb"]
            summary[kind]["job_peak_ratio"] = summary[kind]["job_peak_mb"] / base["job_peak_mb"]
        report["sizes"][size] = {"summary": summary, "runs": runs}
        print(json.dumps(summary, indent=1), flush=True)
        command = [sys.executable, __file__, "--timing", size]
        command += ["--timing-rounds", str(args.timing_rounds)]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        report["timing"][size] = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(report["timing"][size], indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "-".join(size.replace(":", "-") for size in args.sizes)
    (RESULTS / f"regions-{name}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

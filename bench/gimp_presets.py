"""What the GIMP plug-in's quality presets (Draft / Good / Best) cost on this machine.

    .venv/bin/python bench/gimp_presets.py [--sides 256 512 1024] [--rounds 1] [--check 512]

A preset is iterations over the coarse-to-fine scales plus a cap on the finest scale
(``stylize.client.bridge.PRESETS``); its cost is the sum over its scales of iterations times
seconds per iteration at that scale, plus one graph trace per scale. Full runs at
1024 px take tens of minutes on a shared 2-core CPU, so this measures the parts:

1. Through a real daemon (loopback), for each long side: a one-scale optimisation of the
   bundled photo (4:3) with Starry Night, default options (L-BFGS), ITERATIONS
   iterations; the first iteration (tracing) is timed on its own, the rest give the
   median seconds per iteration. Sides are interleaved over ``--rounds``.
2. Each preset's estimate at 512 x 384 and 1024 x 768 from those parts, with the
   schedule the daemon uses (``schedule.long_sides`` / ``split_iterations``).
3. ``--check SIDE``: one real Draft run at SIDE x 3/4 SIDE through the daemon with the
   bridge's options, wall time next to its estimate (how good the model is).

Results: a table on stdout, JSON in bench/results/gimp-presets.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from conftest import sample_photo, start_daemon, stop_daemon, style_bytes  # noqa: E402
from stylize.client import bridge  # noqa: E402
from stylize.client import library as client  # noqa: E402
from stylize.engine.optimization import schedule  # noqa: E402
from stylize.v1 import stylize_pb2 as pb  # noqa: E402

ITERATIONS = 6
SIZES = ((512, 384), (1024, 768))


def _content(width: int, height: int) -> client.RawImage:
    pixels = np.asarray(sample_photo(width, height)).tobytes()
    return client.RawImage(width, height, "RGB8", pixels)


def _timed_run(
    daemon: client.StylizeClient,
    content: client.RawImage,
    optimize: pb.OptimizeOptions,
    max_side: int = 0,
) -> tuple[float, list[float]]:
    """(wall seconds, time of each iteration) of one optimisation."""
    stamps: list[float] = []

    def on_progress(progress: pb.Progress) -> None:
        if progress.stage == pb.Progress.STAGE_OPTIMIZING:
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    daemon.stylize(
        content,
        [client.encoded_style(style_bytes())],
        options=pb.StylizeOptions(max_side=max_side),
        optimize=optimize,
        on_progress=on_progress,
    )
    wall = time.perf_counter() - started
    return wall, [b - a for a, b in zip([started, *stamps], stamps, strict=False)]


def measure_parts(daemon: client.StylizeClient, sides: list[int], rounds: int) -> dict:
    parts: dict[int, dict[str, list[float]]] = {
        s: {"first": [], "per_iteration": []} for s in sides
    }
    for _ in range(rounds):
        for side in sides:
            content = _content(side, side * 3 // 4)
            optimize = pb.OptimizeOptions(iterations=ITERATIONS, scales=[side])
            _, steps = _timed_run(daemon, content, optimize)
            parts[side]["first"].append(steps[0])
            parts[side]["per_iteration"].extend(steps[1:])
            print(f"  side {side}: first {steps[0]:.1f} s, then {steps[1:]}", flush=True)
    return {
        side: {
            "first_s": statistics.median(p["first"]),
            "median_s_per_iteration": statistics.median(p["per_iteration"]),
            "min_s_per_iteration": min(p["per_iteration"]),
        }
        for side, p in parts.items()
    }


def _nearest(parts: dict, side: int) -> dict:
    """The measured part for a scale side (exact when measured; else scaled by pixels)."""
    if side in parts:
        return parts[side]
    base = min(parts, key=lambda s: abs(s - side))
    factor = (side / base) ** 2
    return {k: v * factor for k, v in parts[base].items()}


def estimate(parts: dict, preset: bridge.Preset, width: int, height: int) -> float:
    cap = bridge._finest_side(preset, width, height)
    work = schedule.fit(width, height, cap) if cap else (width, height)
    sides = schedule.long_sides(*work, (), preset.iterations)
    counts = schedule.split_iterations(preset.iterations, len(sides))
    total = 0.0
    for side, count in zip(sides, counts, strict=True):
        part = _nearest(parts, side)
        total += part["first_s"] + (count - 1) * part["median_s_per_iteration"]
    return total


def check_draft(daemon: client.StylizeClient, parts: dict, side: int) -> dict:
    width, height = side, side * 3 // 4
    request = bridge.JobRequest(
        None, None, None, 1.0, False, "none", width, height, "RGB8", b"", (), {}, "optimize",
        "draft",
    )  # fmt: skip
    optimize, max_side = bridge.optimize_setup(request)
    wall, _ = _timed_run(daemon, _content(width, height), optimize, max_side)
    return {
        "size": f"{width}x{height}",
        "wall_s": wall,
        "estimate_s": estimate(parts, bridge.PRESETS["draft"], width, height),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--check", type=int, default=0, help="real Draft run at this side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        daemon_process = start_daemon(Path(scratch) / "daemon.log")
        try:
            with client.StylizeClient(daemon_process.address, timeout=3600) as daemon:
                cpu = daemon.info().device
                parts = measure_parts(daemon, args.sides, args.rounds)
                check = check_draft(daemon, parts, args.check) if args.check else None
        finally:
            stop_daemon(daemon_process)
    estimates = {
        name: {f"{w}x{h}": estimate(parts, preset, w, h) for w, h in SIZES}
        for name, preset in bridge.PRESETS.items()
    }
    report = {"device": cpu, "iterations": ITERATIONS, "rounds": args.rounds, "parts": parts,
              "presets": estimates, "draft_check": check}  # fmt: skip
    print(f"device: {cpu}")
    print(
        "| preset | iterations | finest side | " + " | ".join(f"{w}x{h}" for w, h in SIZES) + " |"
    )
    for name, preset in bridge.PRESETS.items():
        cells = " | ".join(f"{estimates[name][f'{w}x{h}'] / 60:.1f} min" for w, h in SIZES)
        print(f"| {name} | {preset.iterations} | {preset.max_side or 'full'} | {cells} |")
    print(json.dumps(report, indent=2))
    out = REPO / "bench" / "results" / "gimp-presets.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

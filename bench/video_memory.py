"""The daemon's memory over a long StylizeSequence: does it grow with the sequence's length?

A daemon subprocess (``stylize serve``, default settings) gets one StylizeSequence of
``--frames`` raw RGB8 frames (default 10,000 at 160x90) through the client library, with
the default consistency: a pan across astronaut.jpg (public domain, shipped samples) played
forwards and backwards (ping-pong), so the optical flow and the blend work on every frame
and there is no scene cut. Every ``--every`` frames the daemon's resident set (VmRSS) and
its peak so far (VmHWM) are read from /proc. Printed: RSS at frames 100, 1,000, 5,000 and
10,000, the peak, and the least-squares slope of RSS over frames 1,000..end (KiB per 1,000
frames; a leak of one small object per frame shows as a steady positive slope). Usage:

    .venv/bin/python bench/video_memory.py [--frames 10000] [--size 160x90] [--every 100]
        [--json bench/results/video-memory.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "daemon"))

from stylize.client.library import RawImage, StylizeClient, named_style  # noqa: E402
from video_consistency import cpu_name, daemon_process, pan_clip  # noqa: E402

MARKS = (100, 1000, 5000, 10000)


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def ping_pong(clip: list[RawImage], count: int) -> Iterator[RawImage]:
    cycle = clip + clip[-2:0:-1]
    for index in range(count):
        yield cycle[index % len(cycle)]


def slope_kib_per_1000(samples: list[tuple[int, int, int]], start: int) -> float:
    points = [(frame, rss) for frame, rss, _ in samples if frame >= start]
    if len(points) < 2:
        return 0.0
    frames, rss = np.array(points, dtype=np.float64).T
    return float(np.polyfit(frames, rss, 1)[0] * 1000)


def run(frames: int, width: int, height: int, every: int) -> dict[str, object]:
    clip = [RawImage(width, height, "RGB8", f.tobytes()) for f in pan_clip(120, width, height)]
    samples: list[tuple[int, int, int]] = []  # (frames answered, RSS KiB, HWM KiB)
    pid: list[int] = []
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        address = stack.enter_context(daemon_process(Path(folder), pid))
        client = stack.enter_context(StylizeClient(address, connect_timeout=120))
        client.wait_until_reachable()
        samples.append((0, *memory_kib(pid[0])))
        started = time.perf_counter()
        results = client.stylize_sequence(
            ping_pong(clip, frames), [named_style("starry_night")], total_frames=frames
        )
        cuts = 0
        for done, result in enumerate(results, start=1):
            cuts += result.scene_cut and done > 1
            if done % every == 0 or done in MARKS:
                samples.append((done, *memory_kib(pid[0])))
        seconds = time.perf_counter() - started
    rss = {frame: kib for frame, kib, _ in samples}
    return {
        "cpu": cpu_name(),
        "frames": frames,
        "size": f"{width}x{height}",
        "seconds": round(seconds, 1),
        "fps": round(frames / seconds, 1),
        "scene_cuts": cuts,
        "rss_mib_at": {str(m): round(rss[m] / 1024, 1) for m in MARKS if m in rss},
        "rss_mib_before": round(samples[0][1] / 1024, 1),
        "peak_mib": round(max(h for _, _, h in samples) / 1024, 1),
        "slope_kib_per_1000_frames": round(slope_kib_per_1000(samples, 1000), 1),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--size", default="160x90")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = run(args.frames, width, height, args.every)
    print(f"CPU: {result['cpu']}; {args.frames} frames at {args.size}, {result['fps']} fps")
    print(f"RSS before the sequence: {result['rss_mib_before']} MiB")
    for mark, mib in result["rss_mib_at"].items():  # type: ignore[attr-defined]
        print(f"RSS at frame {mark}: {mib} MiB")
    print(f"peak (VmHWM): {result['peak_mib']} MiB")
    print(f"slope over frames 1000..{args.frames}: {result['slope_kib_per_1000_frames']} KiB/1000")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

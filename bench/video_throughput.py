"""Frames per second of stylized clips: the CLI on a video file, the sequence in process,
and StylizeSequence over gRPC, side by side, with consistency on (default) and off.

For each size (640x360, 1280x720, 1920x1080) a pan across astronaut.jpg (public domain,
shipped samples; bench/video_consistency.py ``pan_clip``) of ``--frames`` frames is made
and written as an H.264 MP4 (PyAV, 25 fps). Then, for each consistency mode, in turn:

  cli         ``stylize apply clip.mp4 -s starry_night -o out.mp4 --address ...`` (client/
              cli.py ``main`` called in this process, so Python's start is not counted):
              PyAV decode + StylizeSequence to a daemon subprocess + H.264 encode;
  in-process  jobs/sequence.py ``SequenceRun`` in this process (the daemon's sequence
              code without gRPC): the decoded frames as arrays in, arrays out;
  grpc        the client library's ``stylize_sequence`` to the same daemon on loopback,
              raw RGB8 frames both ways.

Every path runs with default options (stroke scale 1: the network works at most 1024 px
long, then guided upsampling) and the style already cached (one short warm-up sequence per
size and path first, so graphs for the size are compiled). fps = frames / wall seconds of
the whole clip, first frame included; beside it the CPU seconds per frame that this
process and the daemon used together (/proc), which a shared machine's load inflates much
less than the wall clock. Usage:

    .venv/bin/python bench/video_throughput.py [--frames 24] [--sizes 640x360,1280x720,...]
        [--json bench/results/video-throughput.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "daemon"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from stylize.client.cli import main as cli_main  # noqa: E402
from stylize.client.library import RawImage, StylizeClient, named_style  # noqa: E402
from stylize.engine.images import ImageLimits, PixelMode, Pixels  # noqa: E402
from stylize.engine.style_cache import StyleVectorCache  # noqa: E402
from stylize.engine.style_engine import StyleEngine  # noqa: E402
from stylize.engine.temporal import TemporalSettings  # noqa: E402
from stylize.jobs.job import PENDING_FRAME, NamedSource, StylizeJob, WeightedStyle  # noqa: E402
from stylize.jobs.methods import registered_methods  # noqa: E402
from stylize.jobs.resources import Engines  # noqa: E402
from stylize.jobs.sequence import SequenceRun  # noqa: E402
from stylize.jobs.style_library import StyleLibrary  # noqa: E402
from stylize.v1 import stylize_pb2 as pb  # noqa: E402
from video_consistency import cpu_name, daemon_process, pan_clip  # noqa: E402

RATE = 25
MODES = {  # name: (CLI flags, wire message, in-process settings)
    "on (default)": ([], pb.Consistency(), TemporalSettings()),
    "off": (
        ["--consistency", "0", "--colour-momentum", "0"],
        pb.Consistency(motion=0.0, colour=0.0),
        TemporalSettings(motion=0.0, colour=0.0),
    ),
}
PATHS = ("cli", "in-process", "grpc")


def write_mp4(path: Path, frames: list[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


class Paths:
    """The three ways of stylizing a clip, each returning the frames it produced."""

    def __init__(self, address: str, engines: Engines, folder: Path) -> None:
        self.address, self.engines, self.folder = address, engines, folder

    def cli(self, clip: Path, frames: list[np.ndarray], mode: str) -> int:
        out = self.folder / f"out-{clip.stem}.mp4"
        args = ["apply", str(clip), "-s", "starry_night", "-o", str(out), "-q"]
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli_main([*args, "--address", self.address, *MODES[mode][0]])
        if code != 0:
            raise RuntimeError(f"stylize apply exited {code}")
        with av.open(str(out)) as container:
            return container.streams.video[0].frames

    def in_process(self, clip: Path, frames: list[np.ndarray], mode: str) -> int:
        job = StylizeJob(PENDING_FRAME, (WeightedStyle(NamedSource("starry_night"), 1.0),))
        with SequenceRun(self.engines, job, MODES[mode][2]) as run:
            return sum(1 for f in frames if run.frame(Pixels(f, PixelMode.RGB)) is not None)

    def grpc(self, clip: Path, frames: list[np.ndarray], mode: str) -> int:
        height, width = frames[0].shape[:2]
        raws = (RawImage(width, height, "RGB8", f.tobytes()) for f in frames)
        with StylizeClient(self.address) as client:
            results = client.stylize_sequence(
                raws, [named_style("starry_night")], consistency=MODES[mode][1]
            )
            return sum(1 for _ in results)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, limit: float = 180.0) -> None:
    """Wait until the daemon is idle (its background warm-up done), at most ``limit`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.05:
            return


def timed(
    run: Callable[[Path, list[np.ndarray], str], int],
    clip: Path,
    frames: list[np.ndarray],
    mode: str,
    daemon: int,
) -> tuple[int, float, float]:
    """(frames, wall seconds, CPU seconds of this process and the daemon together)."""
    cpu = time.process_time() + cpu_seconds(daemon)
    started = time.perf_counter()
    count = run(clip, frames, mode)
    wall = time.perf_counter() - started
    return count, wall, time.process_time() + cpu_seconds(daemon) - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    engine = StyleEngine()
    engines = Engines(
        engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), registered_methods()
    )
    rows: list[dict[str, object]] = []
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs); backend {engine.backend.name}")
    print(f"{args.frames} frames per size, style starry_night, default options\n")
    print("fps (wall clock); in brackets CPU seconds per frame, this process and the daemon\n")
    print("| size | consistency | CLI on an MP4 | in process | gRPC loopback |")
    print("|---|---|---:|---:|---:|")
    pid: list[int] = []
    with tempfile.TemporaryDirectory() as name, daemon_process(Path(name), pid) as address:
        folder = Path(name)
        with StylizeClient(address, connect_timeout=120) as client:
            client.wait_until_reachable()
        settle(pid[0])
        paths = Paths(address, engines, folder)
        methods = {"cli": paths.cli, "in-process": paths.in_process, "grpc": paths.grpc}
        for width, height in sizes:
            frames = pan_clip(args.frames, width, height)
            clip, warm = folder / f"clip-{width}x{height}.mp4", folder / f"warm-{width}.mp4"
            write_mp4(clip, frames)
            write_mp4(warm, frames[:2])
            for method in methods.values():  # graphs for this size, the style's vector
                method(warm, frames[:2], "on (default)")
            for mode in MODES:
                row: dict[str, object] = {
                    "size": f"{width}x{height}",
                    "consistency": mode,
                    "frames": len(frames),
                }
                cells = []
                for path, method in methods.items():
                    count, wall, cpu = timed(method, clip, frames, mode, pid[0])
                    assert count == len(frames), (path, count)
                    row[f"{path}_fps"] = round(count / wall, 2)
                    row[f"{path}_cpu_s_per_frame"] = round(cpu / count, 3)
                    cells.append(f"{count / wall:.2f} ({cpu / count:.2f} s)")
                rows.append(row)
                print(f"| {width}x{height} | {mode} | {' | '.join(cells)} |", flush=True)
    if args.json:
        result = {"cpu": cpu_name(), "cpus": os.cpu_count(), "backend": engine.backend.name}
        args.json.write_text(json.dumps({**result, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()

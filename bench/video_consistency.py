"""Flicker and speed of stylized clips: frame by frame vs the sequence's consistency.

Two synthetic clips made from the shipped samples (daemon/stylize/samples, public domain):
  pan     a camera panning (and slightly zooming) across astronaut.jpg,
  subject chelsea.jpg's cat (a 110x80 crop) moving over a still astronaut.jpg background.
Each is stylized with starry_night by jobs/sequence.py's SequenceRun (the daemon's own
sequence code, in process) in three modes: frame by frame (consistency off), colour
statistics only, statistics + motion (the default). For each: the warping error of Lai
et al. 2018 (engine/temporal.py warping_error: the previous result warped to the current
frame by Farnebäck flow between the *content* frames, mean |difference| over pixels the
forward-backward check calls non-occluded, 0..255 units; lower is steadier), and frames
per second. Then the same pan through a daemon subprocess over gRPC (StylizeSequence on
loopback), end to end. Usage:

    .venv/bin/python bench/video_consistency.py [--frames 64] [--size 320x180] [--no-grpc]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "daemon" / "stylize" / "samples"
sys.path.insert(0, str(REPO / "daemon"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from stylize.engine.images import ImageLimits, PixelMode, Pixels  # noqa: E402
from stylize.engine.style_cache import StyleVectorCache  # noqa: E402
from stylize.engine.style_engine import StyleEngine  # noqa: E402
from stylize.engine.temporal import SequenceState, TemporalSettings, warping_error  # noqa: E402
from stylize.jobs.job import PENDING_FRAME, NamedSource, StylizeJob, WeightedStyle  # noqa: E402
from stylize.jobs.methods import registered_methods  # noqa: E402
from stylize.jobs.resources import Engines  # noqa: E402
from stylize.jobs.sequence import SequenceRun  # noqa: E402
from stylize.jobs.style_library import StyleLibrary  # noqa: E402

MODES = {
    "frame by frame": TemporalSettings(motion=0.0, colour=0.0),
    "statistics only": TemporalSettings(motion=0.0),
    "statistics + motion (default)": TemporalSettings(),
}


def pan_clip(frames: int, width: int, height: int) -> list[np.ndarray]:
    photo = Image.open(SAMPLES / "astronaut.jpg").convert("RGB")
    big = np.asarray(photo.resize((width * 2, round(width * 2 * photo.height / photo.width))))
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        zoom = 1.0 + 0.15 * t  # a slow zoom in while panning right
        w, h = round(width * 1.6 / zoom), round(height * 1.6 / zoom)
        x = round(t * (big.shape[1] - w - 1))
        y = round((big.shape[0] - h) * 0.3)
        crop = Image.fromarray(big[y : y + h, x : x + w]).resize((width, height), Image.BILINEAR)
        out.append(np.asarray(crop))
    return out


def subject_clip(frames: int, width: int, height: int) -> list[np.ndarray]:
    background = np.asarray(
        Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((width, height))
    )
    cat = Image.open(SAMPLES / "chelsea.jpg").convert("RGB")
    sprite = np.asarray(cat.crop((80, 20, 300, 180)).resize((110, 80)))
    out = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        x = round(t * (width - sprite.shape[1]))
        y = round((height - sprite.shape[0]) * (0.5 + 0.35 * np.sin(2 * np.pi * t)))
        frame = background.copy()
        frame[y : y + sprite.shape[0], x : x + sprite.shape[1]] = sprite
        out.append(frame)
    return out


def exposure_clip(frames: int, width: int, height: int) -> list[np.ndarray]:
    """The pan with its exposure pumping (a camera's auto-exposure hunting, +-10 %)."""
    gains = 1.0 + 0.1 * np.random.default_rng(7).uniform(-1, 1, frames)
    return [
        np.clip(f.astype(np.float32) * g, 0, 255).astype(np.uint8)
        for f, g in zip(pan_clip(frames, width, height), gains, strict=True)
    ]


def _job() -> StylizeJob:
    return StylizeJob(PENDING_FRAME, (WeightedStyle(NamedSource("starry_night"), 1.0),))


def measure(
    engines: Engines, clip: list[np.ndarray], settings: TemporalSettings
) -> tuple[float, float, int, float]:
    """(mean warping error, fps, scene cuts after the first frame, consistency ms/frame)."""
    frames = [Pixels(f, PixelMode.RGB) for f in clip]
    run = SequenceRun(engines, _job(), settings)
    run.frame(frames[0])  # the style's vector and the network's first run: not timed
    started = time.perf_counter()
    outputs = [run.frame(f) for f in frames[1:]]
    fps = len(outputs) / (time.perf_counter() - started)
    errors = [
        warping_error(frames[i], frames[i + 1], outputs[i - 1], outputs[i])
        for i in range(1, len(outputs))
    ]
    # the consistency step alone, on these results, right after: its share of a frame
    state = SequenceState(TemporalSettings())
    started = time.perf_counter()
    for frame, output in zip(frames[1:], outputs, strict=True):
        state.step(frame, output)
    step_ms = (time.perf_counter() - started) / len(outputs) * 1000
    return float(np.mean(errors)), fps, run.state.cuts, step_ms


def grpc_fps(clip: list[np.ndarray]) -> float:
    """Frames per second of the clip through a daemon subprocess (StylizeSequence)."""
    from stylize.client.library import RawImage, StylizeClient, named_style

    with tempfile.TemporaryDirectory() as folder, daemon_process(Path(folder)) as address:
        height, width = clip[0].shape[:2]
        raws = [RawImage(width, height, "RGB8", f.tobytes()) for f in clip]
        with StylizeClient(address, connect_timeout=120) as client:
            client.wait_until_reachable()
            list(client.stylize_sequence(raws[:2], [named_style("starry_night")]))  # warm
            started = time.perf_counter()
            count = sum(1 for _ in client.stylize_sequence(raws, [named_style("starry_night")]))
            return count / (time.perf_counter() - started)


@contextlib.contextmanager
def daemon_process(folder: Path, pid: list[int] | None = None) -> Iterator[str]:
    """A ``stylize serve`` subprocess on a free loopback port (its data in ``folder``);
    yields its address, appends its process id to ``pid`` if given."""
    log_path = folder / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "stylize", "serve", "--port", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "STYLIZE_DATA_DIR": str(folder)},
        )
    if pid is not None:
        pid.append(daemon.pid)
    try:
        yield _address(log_path, daemon)
    finally:
        daemon.terminate()
        daemon.wait(30)


def _address(log_path: Path, daemon: subprocess.Popen) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        match = re.search(r"listening address=(\S+):(\d+)", log_path.read_text(errors="replace"))
        if match:
            return f"{match.group(1)}:{match.group(2)}"
        if daemon.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the daemon did not start:\n{log_path.read_text()}")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--no-grpc", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    engine = StyleEngine()
    engines = Engines(
        engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), registered_methods()
    )
    clips: dict[str, Callable[[int, int, int], list[np.ndarray]]] = {
        "pan (camera motion)": pan_clip,
        "subject (moving cat)": subject_clip,
        "pan, exposure pumping": exposure_clip,
    }
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs); backend {engine.backend.name}")
    print(f"{args.frames} frames at {width}x{height}, style starry_night\n")
    print("| clip | mode | warping error | vs frame by frame | fps |")
    print("|---|---|---:|---:|---:|")
    costs = []
    for clip_name, make in clips.items():
        clip = make(args.frames, width, height)
        base_error = 0.0
        for mode, settings in MODES.items():
            error, fps, cuts, step_ms = measure(engines, clip, settings)
            if not base_error:
                base_error = error
                costs.append((clip_name, 1000 / fps, step_ms))
            cut_note = f" ({cuts} false cuts)" if cuts else ""
            print(
                f"| {clip_name} | {mode}{cut_note} | {error:.2f} | {error / base_error:.0%} "
                f"| {fps:.1f} |",
                flush=True,
            )
    print("\n| clip | frame by frame, ms/frame | consistency step, ms/frame | cost |")
    print("|---|---:|---:|---:|")
    for clip_name, frame_ms, step_ms in costs:
        cost = (frame_ms + step_ms) / frame_ms
        print(f"| {clip_name} | {frame_ms:.1f} | {step_ms:.1f} | {cost:.2f}x |")
    if not args.no_grpc:
        fps = grpc_fps(pan_clip(args.frames, width, height))
        print(
            f"\nStylizeSequence over gRPC (loopback, daemon subprocess, default consistency):"
            f" {fps:.1f} fps end to end"
        )


if __name__ == "__main__":
    main()

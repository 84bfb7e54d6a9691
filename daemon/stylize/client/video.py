"""``stylize apply`` for moving pictures: video files, animated GIF/WebP, folders of frames.

Frames are decoded one at a time (PyAV for video, Pillow for animations and still
frames), streamed through the daemon's StylizeSequence call (or, with ``--local``, a
:class:`~stylize.jobs.sequence.SequenceRun` in this process), and encoded as they come
back, so memory does not grow with the clip's length. A video's audio streams are copied
untouched (remuxed, not re-encoded), interleaved with the new video by time. ``--mask``
and ``--strength-map`` apply to every frame; ``--method optimize`` starts each frame's
optimisation from the previous result warped to it (jobs/sequence.py).

Output: ``.mp4``/``.mov``/``.mkv`` (H.264, yuv420p), ``.webm`` (VP9), ``.gif`` and
``.webp`` (animated, via Pillow), or a folder of PNG frames. A video's frame rate is kept
(constant: variable-rate input is written at its average rate); frames and animations
take ``--fps`` (animations: their own frame durations when written as animations).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stylize import progress_words
from stylize.client import apply_plan, optimize_args
from stylize.client import library as client
from stylize.client.progress_bar import ProgressBar

if TYPE_CHECKING:
    from stylize.v1 import stylize_pb2 as pb

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
ANIMATION_SUFFIXES = (".gif", ".webp")
_CODECS = {".webm": ("libvpx-vp9", "yuv420p")}
_DEFAULT_CODEC = ("libx264", "yuv420p")
DEFAULT_FPS = 25.0


class VideoUsageError(Exception):
    """The command line cannot describe a sequence (the CLI's usage error)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "moving pictures",
        "a video (.mp4, .mov, .mkv, .webm, .avi) or an animated GIF/WebP as CONTENT is "
        "stylized as one sequence, consistent in time; --sequence reads several CONTENT "
        "images (or a glob) as its frames. -o names a video, .gif/.webp, or a folder for "
        "PNG frames; a video's audio is copied untouched",
    )
    group.add_argument(
        "--sequence",
        action="store_true",
        help="treat the CONTENT images (sorted by name) as the frames of one clip",
    )
    group.add_argument(
        "--consistency",
        type=float,
        default=None,
        metavar="0..0.95",
        help="how much each frame keeps of the previous one where the motion is reliable "
        "(optical flow); 0 paints every frame on its own (default: the daemon's, 0.8)",
    )
    group.add_argument(
        "--colour-momentum",
        type=float,
        default=None,
        metavar="0..0.99",
        help="how slowly the clip's overall colours may change; 0 = per frame "
        "(default: the daemon's, 0.9)",
    )
    group.add_argument(
        "--fps",
        type=float,
        default=None,
        help=f"frame rate of a video made from frames (default {DEFAULT_FPS:g})",
    )


def is_sequence(args: argparse.Namespace) -> bool:
    """Whether ``stylize apply`` was given a clip rather than still images."""
    if args.sequence:
        return True
    if len(args.content) != 1 or args.content[0] == apply_plan.STDIO:
        return False
    path = Path(args.content[0])
    suffix = path.suffix.lower()
    return suffix in VIDEO_SUFFIXES or (suffix in ANIMATION_SUFFIXES and _animated(path))


def _animated(path: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return bool(getattr(image, "is_animated", False))
    except OSError:
        return False


# -- reading -------------------------------------------------------------------------


@dataclass
class Clip:
    """Frames to stylize, decoded lazily: RGB8 or RGBA8 arrays [h, w, c]."""

    frames: Iterator[np.ndarray]
    count: int  # 0 = not known
    rate: Fraction  # frames per second
    width: int
    height: int
    audio_from: Path | None = None  # a video whose audio streams are copied
    durations_ms: list[int] = field(default_factory=list)  # animations, filled as read


def open_clip(args: argparse.Namespace, stack: contextlib.ExitStack) -> Clip:
    if args.sequence:
        return _frames_clip(apply_plan.expand_contents(args.content), args.fps)
    path = Path(args.content[0])
    if path.suffix.lower() in ANIMATION_SUFFIXES:
        return _animation_clip(path, stack)
    return _video_clip(path, stack)


def _video_clip(path: Path, stack: contextlib.ExitStack) -> Clip:
    import av

    container = stack.enter_context(av.open(str(path)))
    if not container.streams.video:
        raise VideoUsageError(f"{path} has no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
    count = stream.frames
    if not count and stream.duration and stream.time_base:
        count = round(float(stream.duration * stream.time_base) * rate)
    has_audio = bool(container.streams.audio)

    def frames() -> Iterator[np.ndarray]:
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")

    return Clip(frames(), count, rate, stream.width, stream.height, path if has_audio else None)


def _animation_clip(path: Path, stack: contextlib.ExitStack) -> Clip:
    from PIL import Image, ImageSequence

    image = stack.enter_context(Image.open(path))
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    default = round(1000 / DEFAULT_FPS)
    # Pillow writes an animation's frame durations up front: read them first (cheap).
    durations = [
        int(frame.info.get("duration") or default) for frame in ImageSequence.Iterator(image)
    ]
    image.seek(0)

    def frames() -> Iterator[np.ndarray]:
        for frame in ImageSequence.Iterator(image):
            yield np.asarray(frame.convert("RGBA" if alpha else "RGB"))

    average = sum(durations) / len(durations)
    return Clip(
        frames(),
        len(durations),
        Fraction(1000 / average).limit_denominator(1001),
        image.width,
        image.height,
        durations_ms=durations,
    )


def _frames_clip(paths: list[str], fps: float | None) -> Clip:
    from PIL import Image

    if not paths:
        raise VideoUsageError("--sequence needs at least one frame")
    paths = sorted(paths)
    with Image.open(paths[0]) as first:
        width, height = first.size
        alpha = first.mode in ("RGBA", "LA", "PA") or "transparency" in first.info

    def frames() -> Iterator[np.ndarray]:
        for path in paths:
            with Image.open(path) as image:
                yield np.asarray(image.convert("RGBA" if alpha else "RGB"))

    rate = Fraction(fps or DEFAULT_FPS).limit_denominator(1001)
    return Clip(frames(), len(paths), rate, width, height)


# -- writing -------------------------------------------------------------------------


class _VideoWriter:
    """H.264 (or VP9) at a constant rate; the source's audio packets copied in time order."""

    def __init__(self, output: Path, clip: Clip, stack: contextlib.ExitStack) -> None:
        import av

        codec, pix_fmt = _CODECS.get(output.suffix.lower(), _DEFAULT_CODEC)
        self._container = stack.enter_context(av.open(str(output), "w"))
        rate = clip.rate
        stream = self._container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.VideoStream)
        self._stream = stream
        # yuv420p needs even sides: an odd last row or column is repeated
        self._stream.width = clip.width + clip.width % 2
        self._stream.height = clip.height + clip.height % 2
        self._stream.pix_fmt = pix_fmt
        self._time_base = Fraction(1) / rate
        self._audio: list[tuple[Any, Any]] = []
        self._packets: Iterator[Any] = iter(())
        self._pending: Any = None
        if clip.audio_from is not None:
            source = stack.enter_context(av.open(str(clip.audio_from)))
            for stream in source.streams.audio:
                self._audio.append((stream, self._container.add_stream_from_template(stream)))
            if self._audio:
                by_input = dict(self._audio)
                self._packets = (p for p in source.demux(*by_input) if p.dts is not None and p.size)
        self._index = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        rgb = rgb[..., :3]
        height, width = self._stream.height, self._stream.width
        if rgb.shape[:2] != (height, width):
            rgb = np.pad(
                rgb, ((0, height - rgb.shape[0]), (0, width - rgb.shape[1]), (0, 0)), "edge"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._index
        frame.time_base = self._time_base
        self._index += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._copy_audio_until(float(self._index * self._time_base))

    def _copy_audio_until(self, seconds: float | None) -> None:
        """Mux the source's audio packets that start before ``seconds`` (None: all)."""
        by_input = dict(self._audio)
        while True:
            packet = self._pending if self._pending is not None else next(self._packets, None)
            if packet is None:
                return
            if seconds is not None and float(packet.dts * packet.time_base) >= seconds:
                self._pending = packet
                return
            self._pending = None
            packet.stream = by_input[packet.stream]
            self._container.mux(packet)

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._copy_audio_until(None)


class _AnimationWriter:
    """Animated GIF or WebP through Pillow, which pulls the frames as it writes."""

    def __init__(self, output: Path, clip: Clip) -> None:
        self._output, self._clip = output, clip

    def save(self, frames: Iterator[np.ndarray]) -> None:
        from PIL import Image

        images = (Image.fromarray(np.ascontiguousarray(f)) for f in frames)
        first = next(images, None)
        if first is None:
            return
        durations = self._clip.durations_ms or [round(1000 / self._clip.rate)]
        first.save(
            self._output,
            save_all=True,
            append_images=images,
            duration=durations if len(durations) > 1 else durations[0],
            loop=0,
            **({"quality": 90} if self._output.suffix.lower() == ".webp" else {}),  # type: ignore[arg-type]
        )


def _save_frames(folder: Path, frames: Iterable[np.ndarray]) -> int:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, frame in enumerate(frames):
        Image.fromarray(np.ascontiguousarray(frame)).save(folder / f"frame-{index + 1:06d}.png")
        count += 1
    return count


# -- stylizing -------------------------------------------------------------------------


def _consistency(args: argparse.Namespace) -> pb.Consistency:
    from stylize.v1 import stylize_pb2 as pb

    consistency = pb.Consistency()
    if args.consistency is not None:
        consistency.motion = args.consistency
    if args.colour_momentum is not None:
        consistency.colour = args.colour_momentum
    return consistency


def _raw(frame: np.ndarray) -> client.RawImage:
    fmt = "RGBA8" if frame.shape[2] == 4 else "RGB8"
    height, width = frame.shape[:2]
    return client.RawImage(width, height, fmt, np.ascontiguousarray(frame).tobytes())


class _Meter:
    """Frames done, fps and time left on the CLI's bar."""

    def __init__(self, bar: ProgressBar, total: int, name: str) -> None:
        self._bar, self.total, self._name = bar, total, name
        self.done = 0
        self._started = time.perf_counter()

    def tick(self) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self._started
        fps = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / fps if fps and self.total > self.done else 0.0
        fraction = self.done / self.total if self.total else 0.0
        words = progress_words.frames(self.done, self.total, fps, left)
        self._bar.update(fraction, f"{self._name}: {words}")

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0


def _remote(
    args: argparse.Namespace, daemon: client.StylizeClient, clip: Clip, styles: list
) -> Iterator[np.ndarray]:
    options = _wire_options(args)
    results = daemon.stylize_sequence(
        (_raw(frame) for frame in clip.frames),
        styles,
        strength=args.strength,
        options=options,
        consistency=_consistency(args),
        total_frames=clip.count,
        optimize=optimize_args.options(args),
        strength_map=_strength_map(args),
    )
    for result in results:
        assert result.image is not None
        image = result.image
        channels = 4 if image.format == "RGBA8" else 3
        yield np.frombuffer(image.data, np.uint8).reshape(image.height, image.width, channels)


def _local(
    args: argparse.Namespace, clip: Clip, styles: list, bar: ProgressBar
) -> Iterator[np.ndarray]:
    from stylize.engine import images
    from stylize.engine.style_cache import StyleVectorCache
    from stylize.engine.style_engine import StyleEngine
    from stylize.jobs.methods import registered_methods
    from stylize.jobs.resources import Engines
    from stylize.jobs.sequence import SequenceRun
    from stylize.jobs.style_library import StyleLibrary
    from stylize.server import sequence_service
    from stylize.v1 import stylize_pb2 as pb

    bar.update(0.0, "loading models")
    engines = Engines(
        StyleEngine(),
        StyleLibrary(),
        StyleVectorCache(),
        images.ImageLimits(),
        registered_methods(),
    )
    setup = pb.StylizeSequenceSetup(
        stylize=pb.StylizeSetup(styles=styles, strength=args.strength, options=_wire_options(args)),
        consistency=_consistency(args),
    )
    strength_map = _strength_map(args)
    if strength_map is not None:
        setup.stylize.strength_map.CopyFrom(strength_map)
    optimize = optimize_args.options(args)
    if optimize is not None:  # each frame starts from the previous result, warped
        setup.stylize.method = pb.METHOD_OPTIMIZE
        setup.stylize.optimize.CopyFrom(optimize)
    job = sequence_service.sequence_job(engines, setup, max_styles=1 << 16)
    with SequenceRun(engines, job, sequence_service.temporal_settings(setup.consistency)) as run:
        for frame in clip.frames:
            mode = images.PixelMode.RGBA if frame.shape[2] == 4 else images.PixelMode.RGB
            yield run.frame(images.Pixels(frame, mode)).array


def _strength_map(args: argparse.Namespace) -> pb.Mask | None:
    """``--strength-map``: one map for every frame (the frames' aspect)."""
    path = getattr(args, "strength_map", None)
    return client.file_mask(path, "--strength-map") if path else None


def _wire_options(args: argparse.Namespace) -> pb.StylizeOptions:
    from stylize.v1 import stylize_pb2 as pb

    return pb.StylizeOptions(
        style_preprocess=pb.StylePreprocess(size=args.style_size, no_crop=args.no_crop),
        output_format=pb.OUTPUT_FORMAT_RAW,
        max_side=args.max_side,
        preserve_colors=args.preserve_colors,
        color_match=pb.ColorMatch.Value(f"COLOR_MATCH_{args.color_match.upper()}"),
        stroke_scale=args.stroke_scale,
    )


def check_output(output: str) -> Path:
    if output == apply_plan.STDIO:
        raise VideoUsageError("a clip cannot be written to standard output; name a file")
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix and suffix not in VIDEO_SUFFIXES + ANIMATION_SUFFIXES:
        raise VideoUsageError(
            f"--output {output}: a clip is written as {', '.join(VIDEO_SUFFIXES)}, "
            f"{', '.join(ANIMATION_SUFFIXES)} or a folder of frames (no suffix)"
        )
    return path


def apply_sequence(
    args: argparse.Namespace, daemon: client.StylizeClient | None, styles: list
) -> dict[str, object]:
    """Stylize the clip ``args`` names into ``args.output``; a summary for the report."""
    if args.method == "optimize" and args.save_every:
        raise VideoUsageError("--save-every is for still images; a clip saves its frames only")
    output = check_output(args.output)
    bar = ProgressBar(enabled=not args.quiet)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        clip = open_clip(args, stack)
        name = Path(args.content[0]).name if not args.sequence else f"{clip.count} frames"
        meter = _Meter(bar, clip.count, name)
        if daemon is None:
            stylized = _local(args, clip, styles, bar)
        else:
            stylized = _remote(args, daemon, clip, styles)

        def counted() -> Iterator[np.ndarray]:
            for frame in stylized:
                yield frame
                meter.tick()

        suffix = output.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            output.parent.mkdir(parents=True, exist_ok=True)
            writer = _VideoWriter(output, clip, stack)
            for frame in counted():
                writer.write(frame)
            writer.close()
        elif suffix in ANIMATION_SUFFIXES:
            output.parent.mkdir(parents=True, exist_ok=True)
            _AnimationWriter(output, clip).save(counted())
        else:
            _save_frames(output, counted())
    bar.finish(f"{meter.done} frames, {meter.fps:.3g} fps")
    return {
        "content": args.content if args.sequence else args.content[0],
        "output": str(output),
        "frames": meter.done,
        "seconds": round(time.perf_counter() - started, 3),
        "fps": round(meter.fps, 3),
        "audio": clip.audio_from is not None,
    }

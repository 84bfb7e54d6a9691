"""Bridge between the GIMP plug-in and the Stylize daemon: ``python -m stylize.client.bridge``.

GIMP's own Python (2.7 in GIMP 2.10, a bundled 3.x elsewhere) cannot load grpcio, so
the plug-in spawns this program with a Python 3 that has Stylize installed, writes one
request to its stdin and reads events from its stdout. The framing is specified in
``gimp_plugin/stylize_gimp/protocol.py`` (the plug-in's half); in short:

    in:  4-byte big-endian length | JSON header | content pixels | style file bytes... |
         region masks... | strength map (raw grey pixels, protocol 6: regions)
    out: JSON lines {"event": "progress"|"step"|"result"|"error", ...}; a result line is
         followed by its raw pixel bytes, a step line (an intermediate result of the
         optimisation method) by its PNG bytes. Logs go to stderr.

Everything about gRPC lives in ``stylize.client`` (deadlines, waiting for a daemon
that is starting, retries) and ``stylize.client.user_messages`` (status -> what to do). Only
the standard library and those two are imported: this runs in venvs that have grpcio
and protobuf but neither numpy nor TensorFlow.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, BinaryIO

from stylize import progress_words

PROTOCOL_VERSION = 6  # gimp_plugin/stylize_gimp/protocol.py VERSION (tests check they agree)
# Older plug-ins still work: each version only added optional header fields and events
# that only a newer request asks for (3: the gallery's requests and named styles;
# 4: method, preset, balance, keep_steps and the "step" event; 5: the "sequence" request,
# GIMP animations, with its "frame" and "done" events; 6: regions, a style's "region" and
# the job's "strength_map", raw grey masks whose bytes follow the style files).
OLDEST_PROTOCOL_VERSION = 2
_LENGTH = struct.Struct(">I")
_MAX_HEADER = 1 << 20

Event = dict[str, Any]
Emit = Callable[[Event, bytes], None]
# (address, timeout, connect timeout, credentials) -> a context manager giving a client
Opener = Callable[[str, float | None, float | None, dict[str, str]], Any]


class BridgeError(Exception):
    """A failure reported to the plug-in as an error event with a user-facing message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- framing -------------------------------------------------------------------------


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise BridgeError(
            "INVALID_ARGUMENT", f"request truncated: {what} has {len(data)} of {size} bytes"
        )
    return data


def read_request(stream: BinaryIO) -> tuple[dict[str, Any], bytes, list[bytes]]:
    """Read (header, content pixels, [style file bytes]) from the plug-in.

    Requests other than a job (``"request"``: list_styles, add_style) have no content.
    """
    (length,) = _LENGTH.unpack(_read_exact(stream, _LENGTH.size, "header length"))
    if length > _MAX_HEADER:
        raise BridgeError("INVALID_ARGUMENT", f"request header of {length} bytes is too large")
    try:
        header = json.loads(_read_exact(stream, length, "header").decode("utf-8"))
        version = header["version"]
        content_info = header.get("content") or {"size": 0}
        styles_info = header.get("styles", [])
    except (ValueError, KeyError, TypeError) as e:
        raise BridgeError("INVALID_ARGUMENT", f"malformed request header: {e}") from e
    if not (isinstance(version, int) and OLDEST_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION):
        raise BridgeError(
            "FAILED_PRECONDITION",
            f"plug-in speaks protocol {version}, this bridge "
            f"{OLDEST_PROTOCOL_VERSION}..{PROTOCOL_VERSION}: update Stylize, then reinstall the "
            "plug-in with `stylize gimp install`",
        )
    content = _read_exact(stream, int(content_info["size"]), "content")
    styles = [
        _read_exact(stream, int(s["size"]), f"style {s.get('name', i)}")
        for i, s in enumerate(styles_info)
    ]
    for what, info in mask_infos(header):
        info["data"] = _read_exact(stream, int(info["size"]), what)
    return header, content, styles


def mask_infos(header: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(what, description) of the request's masks in the order their bytes follow the
    style files (protocol 6): each style's "region", in style order, then the job's
    "strength_map". ``read_request`` puts each one's bytes under its "data" key."""
    try:
        infos = [
            (f"the region of style {i + 1}", s["region"])
            for i, s in enumerate(header.get("styles", []))
            if s.get("region")
        ]
        if header.get("strength_map"):
            infos.append(("the strength map", header["strength_map"]))
        for _, info in infos:
            int(info["size"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise BridgeError("INVALID_ARGUMENT", f"malformed request header: {e!r}") from e
    return infos


def event_writer(stream: BinaryIO) -> Emit:
    """Return emit(event, data): one JSON line, then `data` raw bytes, flushed."""

    def emit(event: Event, data: bytes = b"") -> None:
        stream.write(json.dumps(event).encode("utf-8") + b"\n")
        if data:
            stream.write(data)
        stream.flush()

    return emit


# --- the job -------------------------------------------------------------------------


@dataclass(frozen=True)
class StyleFile:
    name: str
    weight: float
    data: bytes
    named: bool = False  # a style of the daemon's library, by name (data is empty)
    region: Any = None  # a stylize.v1 Mask: where this style paints (None: everywhere)


@dataclass(frozen=True)
class JobRequest:
    """One plug-in request, checked: the typed seam between the pipe and the client."""

    address: str | None  # None: the client's default
    timeout: float | None
    connect_timeout: float | None
    strength: float  # the fast method's (the optimisation has `balance`)
    keep_colors: bool
    color_match: str  # none | content | style
    stroke_scale: float | None  # None: the daemon's default
    width: int
    height: int
    format: str  # a client.FORMATS name: RGB8 ... GRAYA8, RGB16 ..., RGBF32 ... (little-endian)
    pixels: bytes
    styles: tuple[StyleFile, ...]
    credentials: dict[str, str]  # tls_ca, tls_cert, tls_key, token_file: paths (installer)
    method: str = "fast"  # fast | optimize (protocol 4)
    preset: str = "good"  # a PRESETS name: the optimisation's quality and time
    balance: float = 0.5  # the optimisation's content (0) vs style (1)
    keep_steps: int = 0  # intermediate results of the optimisation, sent as "step" events
    strength_map: Any = None  # a stylize.v1 Mask scaling the strength per pixel (protocol 6)


def _optional_float(header: dict[str, Any], key: str) -> float | None:
    value = header.get(key)
    return None if value is None else float(value)


def parse_job(
    header: dict[str, Any], content: bytes, styles: list[bytes], frames: bool = False
) -> JobRequest:
    """The request the plug-in sent, or BridgeError INVALID_ARGUMENT naming what is wrong.

    ``frames``: a sequence's header, whose "frames" entry describes each frame (their
    pixels follow later; ``content`` is empty)."""
    try:
        info = header["frames" if frames else "content"]
        fmt, width, height = info["format"], int(info["width"]), int(info["height"])
        request = JobRequest(
            address=str(header["address"]).strip() or None if header.get("address") else None,
            timeout=_optional_float(header, "timeout"),
            connect_timeout=_optional_float(header, "connect_timeout"),
            strength=float(header["strength"]),
            keep_colors=bool(header.get("keep_colors", False)),
            color_match=str(header.get("color_match") or "none"),
            stroke_scale=_optional_float(header, "stroke_scale"),
            width=width,
            height=height,
            format=str(fmt),
            pixels=content,
            styles=tuple(
                _style_file(s, i, data)
                for i, (s, data) in enumerate(zip(header["styles"], styles, strict=True))
            ),
            credentials={str(k): str(v) for k, v in (header.get("credentials") or {}).items()},
            method=str(header.get("method") or "fast"),
            preset=str(header.get("preset") or "good"),
            balance=float(header.get("balance", 0.5)),
            keep_steps=int(header.get("keep_steps") or 0),
            strength_map=_mask(header.get("strength_map"), "the strength map"),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BridgeError("INVALID_ARGUMENT", f"malformed request header: {e!r}") from e
    _check_method(request)
    client = _import_client()
    bytes_per_pixel = client.BYTES_PER_PIXEL
    colour_matches = [v.name.removeprefix("COLOR_MATCH_").lower()
                      for v in client.pb.ColorMatch.DESCRIPTOR.values]  # fmt: skip
    if fmt not in bytes_per_pixel:
        raise BridgeError("INVALID_ARGUMENT", f"unknown pixel format {fmt!r}")
    if request.color_match not in colour_matches:
        raise BridgeError("INVALID_ARGUMENT", f"unknown colour matching {request.color_match!r}")
    size = int(header["frames"]["size"]) if frames else len(content)
    if size != width * height * bytes_per_pixel[fmt]:
        raise BridgeError("INVALID_ARGUMENT", f"{size} bytes of pixels for {width}x{height} {fmt}")
    return request


def _style_file(info: dict[str, Any], index: int, data: bytes) -> StyleFile:
    weight = float(info.get("weight", 1.0))
    region = _mask(info.get("region"), f"the region of style {index + 1}")
    if info.get("named"):
        return StyleFile(str(info["named"]), weight, b"", named=True, region=region)
    return StyleFile(str(info.get("name", index)), weight, data, region=region)


def _mask(info: dict[str, Any] | None, what: str) -> Any:
    """A stylize.v1 Mask from a mask's description and bytes (read_request), made by the
    client library (its rules: formats GRAY8, GRAY16, GRAYF32); None when not given."""
    if not info:
        return None
    client = _import_client()
    image = client.RawImage(int(info["width"]), int(info["height"]), str(info["format"]),
                            info.get("data", b""))  # fmt: skip
    try:
        return client.raw_mask(image)
    except client.ClientError as e:
        raise BridgeError("INVALID_ARGUMENT", f"{what}: {e.message}") from e


# --- the optimisation method in an artist's terms --------------------------------------


@dataclass(frozen=True)
class Preset:
    """A quality/time choice: iterations in total (over the coarse-to-fine scales) and the
    long side of the finest scale (0: the layer's own size). The result always has the
    layer's size. What each costs on the benchmark CPU: BENCHMARKS.md "GIMP presets"."""

    iterations: int
    max_side: int


PRESETS = {
    "draft": Preset(iterations=50, max_side=512),
    "good": Preset(iterations=150, max_side=1024),
    "best": Preset(iterations=400, max_side=0),
}
METHODS = ("fast", "optimize")
MAX_KEEP_STEPS = 20
BALANCE_CENTRE = (5.0, 100.0)  # content_weight, style_weight at 0.5: the daemon's defaults
BALANCE_RANGE = 100.0  # the style/content ratio grows 100-fold from balance 0 to 1
_MIN_SIDE = 16  # the daemon's smallest picture side (engine/images.py MIN_SIDE)


def _check_method(request: JobRequest) -> None:
    """The method's own settings, or BridgeError INVALID_ARGUMENT naming the bad one."""
    if request.method not in METHODS:
        raise BridgeError(
            "INVALID_ARGUMENT",
            f"unknown method {request.method!r}: use one of {', '.join(METHODS)}",
        )
    if request.preset not in PRESETS:
        raise BridgeError(
            "INVALID_ARGUMENT",
            f"unknown quality preset {request.preset!r}: use one of {', '.join(PRESETS)}",
        )
    if not 0.0 <= request.balance <= 1.0:  # NaN fails too
        raise BridgeError(
            "INVALID_ARGUMENT", f"balance must be between 0 and 1, got {request.balance}"
        )
    if not 0 <= request.keep_steps <= MAX_KEEP_STEPS:
        raise BridgeError(
            "INVALID_ARGUMENT", f"keep_steps must be 0..{MAX_KEEP_STEPS}, got {request.keep_steps}"
        )


def balance_weights(balance: float) -> tuple[float, float]:
    """(content_weight, style_weight) for the balance slider: their ratio moves on a log
    scale (2 .. 20 .. 200) and their product stays put, so the loss keeps its size."""
    half = BALANCE_RANGE ** ((balance - 0.5) / 2)
    content, style = BALANCE_CENTRE
    return content / half, style * half


def _finest_side(preset: Preset, width: int, height: int) -> int:
    """The preset's cap on the finest scale (0: none), unless it would make the picture
    thinner than the daemon accepts."""
    long_side, short_side = max(width, height), min(width, height)
    if not preset.max_side or long_side <= preset.max_side:
        return 0
    if short_side * preset.max_side / long_side < _MIN_SIDE:
        return 0
    return preset.max_side


def optimize_setup(request: JobRequest) -> tuple[Any, int]:
    """(stylize.v1 OptimizeOptions, StylizeOptions.max_side) of an optimisation request.

    Intermediate results: ``keep_steps`` previews spread evenly before the last iteration.
    """
    client = _import_client()
    preset = PRESETS[request.preset]
    content_weight, style_weight = balance_weights(request.balance)
    keep = request.keep_steps
    options = client.pb.OptimizeOptions(
        iterations=preset.iterations,
        content_weight=content_weight,
        style_weight=style_weight,
        preview_every=max(1, preset.iterations // (keep + 1)) if keep else 0,
    )
    return options, _finest_side(preset, request.width, request.height)


def status_words(progress: Any) -> str:
    """What GIMP's status bar shows for one of the daemon's Progress events."""
    stage = progress.Stage.Name(progress.stage)
    return progress_words.status_line(
        stage, progress.fraction, progress.scale, progress.scales, progress.seconds_left
    )


def _credential_files(paths: dict[str, str]) -> dict[str, bytes]:
    """The contents of the credential files the installer recorded."""
    contents = {}
    for key, path in paths.items():
        try:
            with open(path, "rb") as stream:
                contents[key] = stream.read()
        except OSError as e:
            raise BridgeError(
                "FAILED_PRECONDITION",
                f"Cannot read {path} ({e.strerror}), set up as the daemon's {key}. Reinstall the "
                "plug-in with `stylize gimp install` and the right --tls-ca/--tls-cert/"
                "--tls-key/--token-file.",
            ) from e
    return contents


# GIMP's status bar speaks to an artist: the daemon's stages in plain words.
SETTING = "the plug-in's settings: `stylize gimp install --address HOST:PORT --timeout SECONDS`"


def watch_lifeline(stdin: BinaryIO, lost: threading.Event) -> None:
    """Set ``lost`` when the plug-in closes our stdin (or dies) before the job is over."""

    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        return  # not a real pipe (an in-memory request): nothing to watch

    def watch() -> None:
        # os.read on the file descriptor, not stdin.read: a thread blocked in the buffered
        # reader would hold its lock and make interpreter shutdown abort.
        try:
            data = os.read(fd, 1)
        except OSError:
            data = b""
        if not data:
            lost.set()

    threading.Thread(target=watch, name="stylize-lifeline", daemon=True).start()


def _cancel_when(lost: threading.Event, finished: threading.Event, daemon: Any) -> None:
    lost.wait()
    if not finished.is_set():
        print("stylize.client.bridge: the plug-in went away; cancelling the job", file=sys.stderr)
        daemon.cancel()


@contextlib.contextmanager
def _connected(
    request: JobRequest,
    address: str,
    deadline: float | None,
    timeout: float,
    emit: Emit,
    lost: threading.Event | None,
    opener: Opener | None,
) -> Iterator[Any]:
    """The daemon's client for one job or sequence: GIMP's status bar says it connects, the
    call is cancelled if the plug-in goes away (``lost``), and a client failure becomes a
    BridgeError in the words of ``stylize.client.user_messages``."""
    from stylize.client import library as client
    from stylize.client import user_messages

    emit(
        {"event": "progress", "fraction": 0.0, "message": f"Connecting to Stylize at {address}"},
        b"",
    )
    try:
        with (opener or _open_client)(
            address, deadline, request.connect_timeout, request.credentials
        ) as daemon:
            finished = threading.Event()
            if lost is not None:
                threading.Thread(
                    target=_cancel_when, args=(lost, finished, daemon), daemon=True
                ).start()
            yield daemon
            finished.set()
    except client.ClientError as e:
        print(f"stylize.client.bridge: {e} request_id={e.request_id}", file=sys.stderr)
        words = _region_words(e) or user_messages.explain(e, address, timeout, SETTING)
        raise BridgeError(e.code, words) from e


def _region_words(error: Any) -> str | None:
    """GIMP's words for a region or strength map the daemon refused (the field it names:
    ``styles[i].region``, ``strength_map``), or None for any other failure."""
    field = error.field or ""
    if error.code != "INVALID_ARGUMENT":
        return None
    index = field[len("styles[") : -len("].region")]
    if field.startswith("styles[") and field.endswith("].region") and index.isdigit():
        what = f"the region of style {int(index) + 1} (where it paints)"
    elif field == "strength_map":
        what = "the strength map"
    else:
        return None
    return f"Stylize cannot use {what}: {error.message}. The image was not changed."


def run_job(
    request: JobRequest,
    emit: Emit,
    lost: threading.Event | None = None,
    opener: Opener | None = None,
) -> None:
    """Stylize through the daemon, emitting progress (and step) events, then the result.

    Waiting for a daemon that is still starting, and retrying refusals the daemon
    marks retryable, is the client's job (``stylize.client``); any failure that
    remains becomes a BridgeError with the words of ``stylize.client.user_messages``. When
    ``lost`` is set (the plug-in went away), the daemon's job is cancelled at once.
    """
    from stylize.client import library as client

    address = request.address or client.default_address()
    timeout = request.timeout or client.DEFAULT_TIMEOUT
    # An optimisation may take an hour: no deadline (the artist cancels in GIMP, and the
    # status bar says how long is left); retries of refusals still stop after `timeout`.
    deadline = None if request.method == "optimize" else timeout
    with _connected(request, address, deadline, timeout, emit, lost, opener) as daemon:
        result = _stylize(daemon, request, emit)
    out = result.image
    assert out is not None  # raw content gives a raw result
    emit(
        {
            "event": "result",
            "width": out.width,
            "height": out.height,
            "format": out.format,
            "size": len(out.data),
            "seconds": result.seconds,
        },
        out.data,
    )


def _stylize(daemon: Any, request: JobRequest, emit: Emit) -> Any:
    """One Stylize call with the request's method; progress and steps become events."""
    from stylize.client import library as client

    def on_progress(progress: client.pb.Progress) -> None:
        event = {
            "event": "progress",
            "fraction": float(progress.fraction),
            "message": status_words(progress),
            "detail": progress.message,  # the daemon's words, for logs
        }
        if progress.seconds_left > 0:
            event["seconds_left"] = progress.seconds_left
        emit(event, b"")

    image = client.RawImage(request.width, request.height, request.format, request.pixels)
    sources = _sources(request)
    options = _options(request)
    if request.method == "fast":
        return daemon.stylize(
            image,
            sources,
            strength=request.strength,
            options=options,
            on_progress=on_progress,
            strength_map=request.strength_map,
        )
    optimize, options.max_side = optimize_setup(request)
    sent: list[int] = []

    def on_preview(preview: client.pb.Preview) -> None:
        if len(sent) >= request.keep_steps or preview.iteration >= optimize.iterations:
            return  # the last iteration's picture is the result itself
        sent.append(preview.iteration)
        step = {"event": "step", "iteration": preview.iteration, "iterations": optimize.iterations}
        step.update(width=preview.width, height=preview.height, format="PNG")
        emit({**step, "size": len(preview.png)}, preview.png)

    return daemon.stylize(
        image,
        sources,
        options=options,
        on_progress=on_progress,
        optimize=optimize,
        on_preview=on_preview,
        strength_map=request.strength_map,
    )


def _sources(request: JobRequest) -> list[Any]:
    """The request's styles as the client's StyleSources (named or file bytes), each in
    its region when it has one."""
    from stylize.client import library as client

    sources = []
    for style in request.styles:
        source = (
            client.named_style(style.name, style.weight)
            if style.named
            else client.encoded_style(style.data, style.weight)
        )
        sources.append(source if style.region is None else client.in_region(source, style.region))
    return sources


def _options(request: JobRequest) -> Any:
    """StylizeOptions of a request (with the optimisation, stroke_scale is the style
    images' size)."""
    from stylize.client import library as client

    match = client.pb.ColorMatch.Value(f"COLOR_MATCH_{request.color_match.upper()}")
    return client.pb.StylizeOptions(
        preserve_colors=request.keep_colors,
        color_match=match,
        stroke_scale=request.stroke_scale,
    )


def _open_client(
    address: str, timeout: float | None, connect_timeout: float | None, credentials: dict[str, str]
) -> Any:  # stylize.client.library.StylizeClient (imported late: see _import_client)
    """A client for the daemon with the credential files the installer recorded."""
    from stylize.client import library as client

    files = _credential_files(credentials)
    token = files.get("token_file")
    return client.StylizeClient(
        address,
        token=token.decode().strip() if token else None,
        timeout=timeout,
        connect_timeout=(
            client.DEFAULT_CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        ),
        root_certificates=files.get("tls_ca"),
        private_key=files.get("tls_key"),
        certificate_chain=files.get("tls_cert"),
    )


# --- the style gallery: list the daemon's named styles, add one ------------------------


def _style_event(info: Any) -> Event:  # info: pb.NamedStyleInfo
    return {
        "name": info.name,
        "origin": "bundled" if info.origin == info.ORIGIN_BUNDLED else "user",
        "width": info.width,
        "height": info.height,
        "file_bytes": info.file_bytes,
        "thumbnail_size": len(info.thumbnail),
        "thumbnail_error": info.thumbnail_error,
    }


def run_gallery(header: dict[str, Any], styles: list[bytes], emit: Emit) -> None:
    """``list_styles``: one "styles" event, followed by every thumbnail's JPEG bytes in
    order; ``add_style``: one "added" event for the new style, followed by its thumbnail."""
    from stylize.client import library as client
    from stylize.client import user_messages

    _import_client()
    address = str(header.get("address") or "").strip() or client.default_address()
    timeout = _optional_float(header, "timeout") or client.DEFAULT_TIMEOUT
    credentials = {str(k): str(v) for k, v in (header.get("credentials") or {}).items()}
    try:
        with _open_client(
            address, timeout, _optional_float(header, "connect_timeout"), credentials
        ) as daemon:
            if header["request"] == "list_styles":
                found = daemon.list_styles(int(header.get("thumbnail_side") or 0))
                thumbnails = b"".join(info.thumbnail for info in found)
                styles_out = [_style_event(info) for info in found]
                emit({"event": "styles", "styles": styles_out, "size": len(thumbnails)}, thumbnails)
                return
            if len(styles) != 1:
                raise BridgeError("INVALID_ARGUMENT", "add_style needs exactly one style file")
            added = daemon.add_style(str(header.get("name") or ""), styles[0])
            emit(
                {"event": "added", "style": _style_event(added), "size": len(added.thumbnail)},
                added.thumbnail,
            )
    except client.ClientError as e:
        print(f"stylize.client.bridge: {e} request_id={e.request_id}", file=sys.stderr)
        raise BridgeError(e.code, user_messages.explain(e, address, timeout, SETTING)) from e


# --- sequences: the frames of a GIMP animation as one StylizeSequence ---------------------


@dataclass(frozen=True)
class SequenceJob:
    """A sequence request: the job's settings (``pixels`` empty), how many frames follow,
    and whether they are painted consistently in time (the daemon's defaults) or each on
    its own."""

    job: JobRequest
    count: int
    consistent: bool


MAX_FRAMES = 100_000


def parse_sequence(header: dict[str, Any], styles: list[bytes]) -> SequenceJob:
    """The sequence the plug-in announced, or BridgeError INVALID_ARGUMENT."""
    job = parse_job(header, b"", styles, frames=True)
    if job.strength_map is not None or any(s.region is not None for s in job.styles):
        raise BridgeError("INVALID_ARGUMENT", "regions apply to one picture, not to a sequence")
    if job.method != "fast":
        raise BridgeError("INVALID_ARGUMENT", "a sequence is painted with the fast method only")
    try:
        count = int(header["frames"]["count"])
    except (KeyError, TypeError, ValueError) as e:
        raise BridgeError("INVALID_ARGUMENT", f"malformed request header: {e!r}") from e
    if not 1 <= count <= MAX_FRAMES:
        raise BridgeError(
            "INVALID_ARGUMENT", f"a sequence needs 1..{MAX_FRAMES} frames, got {count}"
        )
    return SequenceJob(job, count, bool(header.get("consistent", True)))


def _raw_read(stdin: BinaryIO) -> Callable[[int], bytes]:
    """read(n) of at most n bytes of the request stream, from any thread.

    A pipe is read with os.read after taking what the buffered reader already holds: a
    thread blocked inside the buffered reader would hold its lock and make interpreter
    shutdown abort (as in watch_lifeline)."""
    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        return stdin.read  # an in-memory stream (tests)
    peek = getattr(stdin, "peek", None)
    held = [stdin.read(len(peek(1))) if peek is not None else b""]

    def read(size: int) -> bytes:
        if held[0]:
            data, held[0] = held[0][:size], held[0][size:]
            return data
        try:
            return os.read(fd, size)
        except OSError:
            return b""

    return read


def read_frames(
    stdin: BinaryIO, count: int, size: int, lost: threading.Event, lifeline: bool
) -> Iterator[bytes]:
    """The frames as the plug-in writes them, read on a thread of their own (the plug-in
    writes a few frames ahead of the results it reads: it never waits on us).

    A stream that ends early sets ``lost`` (the plug-in went away: cancel); with
    ``lifeline``, so does the stream's end after the last frame, before the answer."""
    arrived: queue.Queue[bytes | None] = queue.Queue()
    read = _raw_read(stdin)

    def reader() -> None:
        for _ in range(count):
            parts, remaining = [], size
            while remaining:
                data = read(min(remaining, 1 << 20))
                if not data:
                    lost.set()
                    arrived.put(None)
                    return
                parts.append(data)
                remaining -= len(data)
            arrived.put(b"".join(parts))
        if lifeline and not read(1):
            lost.set()

    threading.Thread(target=reader, name="stylize-frames", daemon=True).start()
    for _ in range(count):
        frame = arrived.get()
        if frame is None:
            return
        yield frame


def run_sequence(
    sequence: SequenceJob,
    frames: Iterator[bytes],
    emit: Emit,
    lost: threading.Event | None = None,
    opener: Opener | None = None,
) -> None:
    """Stylize the frames as one StylizeSequence (consistency on unless the plug-in said
    otherwise): one "frame" event per result, in order, progress in frames, then "done"."""
    import time

    from stylize.client import library as client

    request, count = sequence.job, sequence.count
    address = request.address or client.default_address()
    timeout = request.timeout or client.DEFAULT_TIMEOUT
    started = time.monotonic()
    done = 0
    with _connected(request, address, timeout, timeout, emit, lost, opener) as daemon:
        results = daemon.stylize_sequence(
            (client.RawImage(request.width, request.height, request.format, f) for f in frames),
            _sources(request),
            strength=request.strength,
            options=_options(request),
            consistency=_consistency(sequence.consistent),
            total_frames=count,
        )
        for frame in results:
            out = frame.image
            assert out is not None  # raw frames come back raw
            info = {"event": "frame", "index": frame.index, "width": out.width}
            info.update(height=out.height, format=out.format, size=len(out.data))
            emit(info, out.data)
            done += 1
            emit(_frames_progress(done, count, time.monotonic() - started), b"")
    if done != count:  # the plug-in stopped sending frames
        raise BridgeError("CANCELLED", f"the plug-in sent {done} of {count} frames")
    emit({"event": "done", "frames": done, "seconds": time.monotonic() - started}, b"")


def _frames_progress(done: int, count: int, seconds: float) -> Event:
    """GIMP's status bar during a sequence: frames done, the rate, the time left."""
    fps = done / seconds if seconds > 0 else 0.0
    left = (count - done) / fps if fps else 0.0
    words = progress_words.frames(done, count, fps, left)
    return {"event": "progress", "fraction": done / count, "message": f"Painted {words}"}


def _consistency(consistent: bool) -> Any:
    """The daemon's defaults, or none at all: every frame painted on its own."""
    from stylize.client import library as client

    if consistent:
        return client.pb.Consistency()
    return client.pb.Consistency(motion=0.0, colour=0.0, scene_cut=1.0)


REQUESTS = ("stylize", "list_styles", "add_style", "sequence")


def _import_client() -> ModuleType:
    try:
        from stylize.client import library as client
    except ImportError as e:
        raise BridgeError(
            "FAILED_PRECONDITION",
            f"{sys.executable} cannot load the Stylize "
            f"gRPC client ({e}). Install Stylize (grpcio, protobuf) for this "
            "Python, or reinstall the plug-in with `stylize gimp install "
            "--python /path/to/python3`.",
        ) from e
    return client


def serve_once(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Handle one request; every failure becomes an error event. Returns the exit code."""
    try:
        return 0 if _serve(stdin, event_writer(stdout), _open_client, lifeline=True) else 1
    except BrokenPipeError:  # the plug-in is gone (GIMP ended it): nobody to tell
        print("stylize.client.bridge: the plug-in went away; exiting", file=sys.stderr)
        return 1


def serve_session(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """``--session``: requests one after another until stdin closes (the dialog's preview).

    The process, its imports and its channel to the daemon stay warm between requests,
    so a preview costs the daemon's time rather than a Python start-up. There is no
    lifeline per job (stdin carries the next request); closing stdin ends the session.
    """
    emit = event_writer(stdout)
    clients = _SessionClients()
    try:
        while _more(stdin):
            if _serve(stdin, emit, clients.open, lifeline=False) is None:
                return 1  # the request could not be read: the stream is out of step
        return 0
    except BrokenPipeError:
        print("stylize.client.bridge: the plug-in went away; exiting", file=sys.stderr)
        return 1
    finally:
        clients.close()


def _more(stdin: BinaryIO) -> bool:
    """Whether another request follows (False at the end of the stream)."""
    peek = getattr(stdin, "peek", None)
    return bool(peek(1)) if peek is not None else True


class _SessionClients:
    """One open client per daemon and credentials, for the whole session."""

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], Any] = {}

    def open(
        self,
        address: str,
        timeout: float | None,
        connect_timeout: float | None,
        credentials: dict[str, str],
    ) -> Any:
        key = (address, timeout, connect_timeout, tuple(sorted(credentials.items())))
        if key not in self._clients:
            self._clients[key] = _open_client(address, timeout, connect_timeout, credentials)
        return contextlib.nullcontext(self._clients[key])

    def close(self) -> None:
        for daemon in self._clients.values():
            daemon.close()


def _serve(stdin: BinaryIO, emit: Emit, opener: Opener, lifeline: bool) -> bool | None:
    """Read and handle one request: True done, False it failed (an error event went out),
    None the request itself could not be read (the stream cannot be trusted after it)."""
    try:
        header, content, styles = read_request(stdin)
    except BridgeError as e:
        emit({"event": "error", "code": e.code, "message": e.message}, b"")
        return None
    try:
        kind = header.get("request", "stylize")
        if kind not in REQUESTS:
            raise BridgeError("INVALID_ARGUMENT", f"unknown request {kind!r}")
        if kind == "sequence":
            if not lifeline:
                raise BridgeError("INVALID_ARGUMENT", "a sequence needs a bridge of its own")
            sequence = parse_sequence(header, styles)
            lost = threading.Event()
            size = int(header["frames"]["size"])
            frames = read_frames(stdin, sequence.count, size, lost, lifeline)
            run_sequence(sequence, frames, emit, lost, opener)
            return True
        if kind != "stylize":
            run_gallery(header, styles, emit)
            return True
        request = parse_job(header, content, styles)
        lost = threading.Event()
        if lifeline:
            watch_lifeline(stdin, lost)
        run_job(request, emit, lost, opener)
        return True
    except BridgeError as e:
        emit({"event": "error", "code": e.code, "message": e.message}, b"")
    except BrokenPipeError:
        raise
    except Exception as e:
        traceback.print_exc()
        message = f"The Stylize bridge failed: {e!r}. Please report this bug."
        emit({"event": "error", "code": "INTERNAL", "message": message}, b"")
    return False


def check() -> int:
    """`--check`: prove this interpreter can run the bridge (used by the installer)."""
    try:
        client = _import_client()
    except BridgeError as e:
        print(e.message, file=sys.stderr)
        return 1
    print(
        f"stylize bridge ok: python {sys.version.split()[0]}, default daemon "
        f"{client.DEFAULT_ADDRESS}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        return check()
    if args == ["--session"]:
        stdout = sys.stdout.buffer
        sys.stdout = sys.stderr
        return serve_session(sys.stdin.buffer, stdout)
    if args:
        print(
            "usage: python -m stylize.client.bridge [--check | --session]  (requests on stdin, "
            "events on stdout; spawned by the GIMP plug-in)",
            file=sys.stderr,
        )
        return 2
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # stray prints must never corrupt the event stream
    return serve_once(sys.stdin.buffer, stdout)


if __name__ == "__main__":
    sys.exit(main())

"""A small Python client for the Stylize daemon: chunking, limits, deadlines, retries, errors.

Imports only grpc, grpc_status and the generated stubs (no numpy, no TensorFlow),
so the GIMP bridge and other lightweight programs can use it.

Retries happen in two layers, both driven by the daemon's refusals: gRPC's own
``retryPolicy`` (the channel's service config, :func:`service_config`) replays
calls that the daemon refused before answering (the client sends the setup, then
waits for the daemon's first event before sending content, so a refused upload
costs nothing and stays replayable), and :meth:`StylizeClient._retrying` — the
one retry loop — waits for a daemon that is starting and repeats a call whose
status carries a ``google.rpc.RetryInfo`` until the call's time is up.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from stylize.tokens import token_text
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

DEFAULT_PORT = 50051
DEFAULT_ADDRESS = f"127.0.0.1:{DEFAULT_PORT}"
DEFAULT_TIMEOUT = 600.0  # seconds for a whole call
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to wait for a daemon that is not up (yet)
CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 64 << 20
REQUEST_ID_KEY = "stylize-request-id"  # trailing metadata the daemon sets on every call
SERVICE_NAME = "stylize.v1.StyleTransfer"  # also the name the daemon's health reports
_PROBE_INTERVAL = 0.25
_MAX_RETRY_DELAY = 10.0

T = TypeVar("T")


def default_address() -> str:
    """``$STYLIZE_ADDRESS``, else 127.0.0.1 on ``$STYLIZE_PORT`` (as ``stylize serve`` uses)."""
    explicit = os.environ.get("STYLIZE_ADDRESS")
    if explicit:
        return explicit
    return f"127.0.0.1:{os.environ.get('STYLIZE_PORT') or DEFAULT_PORT}"


def service_config() -> dict[str, object]:
    """The channel's gRPC service config: retries of refusals the daemon marks retryable.

    The daemon steers these retries with the ``grpc-retry-pushback-ms`` trailer (its
    RetryInfo delay, or -1 for "do not retry"), so only BUSY / NOT_READY / RATE_LIMITED
    style refusals are replayed, never "too large". Clients in other languages can use
    the same JSON (README "Retries").
    """
    return {
        "methodConfig": [
            {
                "name": [{"service": SERVICE_NAME}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.5s",
                    "maxBackoff": "5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
                },
            }
        ]
    }


def load_balancing_config() -> dict[str, object]:
    """Service config that spreads calls over every daemon a target names.

    A target may list several addresses (``ipv4:127.0.0.1:50051,127.0.0.2:50051``) or
    be a ``dns:///host:port`` name that resolves to several; gRPC's ``round_robin``
    policy then sends each call to the next daemon, and client-side health checking
    (``grpc.health.v1.Health/Watch`` on :data:`SERVICE_NAME`) takes out of the pool
    any daemon that is loading its models, draining or gone. One address is a pool of
    one. gRPC does the balancing; there is no balancer of our own.
    """
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": SERVICE_NAME},
    }


def channel_options() -> list[tuple[str, object]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.service_config", json.dumps({**service_config(), **load_balancing_config()})),
        ("grpc.enable_retries", 1),
        # Setups with style images must stay replayable: buffer them for retries.
        ("grpc.per_rpc_retry_buffer_size", MAX_MESSAGE_BYTES + (1 << 20)),
    ]


# Raw pixel formats by name ("RGB8", "RGBA16", "GRAYF32", ...; the .proto's PixelFormat).
_CHANNELS = {"RGB": 3, "RGBA": 4, "GRAY": 1, "GRAYA": 2}
_SAMPLE_BYTES = {"8": 1, "16": 2, "F32": 4}  # little-endian samples
FORMATS = {
    f"{layout}{depth}": pb.PixelFormat.Value(f"PIXEL_FORMAT_{layout}{depth}")
    for depth in _SAMPLE_BYTES
    for layout in _CHANNELS
}
FORMAT_NAMES = {value: name for name, value in FORMATS.items()}
CHANNELS = {f"{layout}{depth}": n for depth in _SAMPLE_BYTES for layout, n in _CHANNELS.items()}
BYTES_PER_PIXEL = {
    f"{layout}{depth}": n * size
    for depth, size in _SAMPLE_BYTES.items()
    for layout, n in _CHANNELS.items()
}


class ClientError(Exception):
    """A failed call: ``code`` is the gRPC status name, ``message`` the daemon's words.

    From the status details: ``reason`` (ErrorInfo, README "Errors"), ``field`` (the
    BadRequest field at fault, e.g. ``styles[1]``), ``retry_after`` (RetryInfo, seconds;
    None when retrying cannot help). ``started`` says whether the daemon had accepted
    the job before it failed; ``request_id`` names the call in the daemon's log.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        reason: str = "",
        field: str | None = None,
        retry_after: float | None = None,
        started: bool = False,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reason = reason  # "" when the status had no ErrorInfo (e.g. transport errors)
        self.field = field
        self.retry_after = retry_after
        self.started = started
        self.request_id = request_id


@dataclass(frozen=True)
class RawImage:
    width: int
    height: int
    format: str  # a FORMATS name: RGB8 | RGBA8 | GRAY8 | GRAYA8, or *16 / *F32
    data: bytes


@dataclass(frozen=True)
class StylizeResult:
    image: RawImage | None  # for raw content
    encoded: bytes | None  # PNG, for encoded content
    vector: list[float]  # the fast method's style vector (empty for the optimisation)
    seconds: float
    iterations: int = 0  # the optimisation's
    loss: float | None = None  # the optimisation's total loss at the result
    finished_early: bool = False  # stopped by finish() or max_seconds


@dataclass(frozen=True)
class SequenceFrame:
    """One stylized frame of a StylizeSequence call, in the order the frames were sent."""

    index: int
    image: RawImage | None  # for raw frames (or output_format RAW)
    encoded: bytes | None  # PNG, for encoded frames
    scene_cut: bool  # the daemon reset the sequence's consistency state at this frame
    reliable: float  # fraction of pixels that took the warped previous result
    seconds: float


SEQUENCE_WINDOW = 3  # frames sent but not yet answered, at most (bounded memory both sides)

ProgressCallback = Callable[[pb.Progress], None]
PreviewCallback = Callable[[pb.Preview], None]


def _weighted(source: pb.StyleSource, weight: float) -> pb.StyleSource:
    source.weight = weight
    return source


def file_style(path: str, weight: float = 1.0) -> pb.StyleSource:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise ClientError(
            "INVALID_ARGUMENT", f"cannot read style image {path}: {error.strerror}"
        ) from None
    return encoded_style(data, weight)


def encoded_style(data: bytes, weight: float = 1.0) -> pb.StyleSource:
    return _weighted(pb.StyleSource(encoded=data), weight)


def named_style(name: str, weight: float = 1.0) -> pb.StyleSource:
    return _weighted(pb.StyleSource(named=name), weight)


def vector_style(values: Sequence[float], weight: float = 1.0) -> pb.StyleSource:
    return _weighted(pb.StyleSource(vector=pb.StyleVector(values=list(values))), weight)


def file_mask(path: str, what: str = "mask") -> pb.Mask:
    """A region or strength map from an image file (grey, or a colour file's luminance)."""
    try:
        with open(path, "rb") as stream:
            return pb.Mask(encoded=stream.read())
    except OSError as error:
        raise ClientError(
            "INVALID_ARGUMENT", f"cannot read {what} {path}: {error.strerror}"
        ) from None


def raw_mask(image: RawImage) -> pb.Mask:
    """A region or strength map as raw pixels: format GRAY8, GRAY16 or GRAYF32."""
    if image.format not in ("GRAY8", "GRAY16", "GRAYF32"):
        raise ClientError(
            "INVALID_ARGUMENT", f"a mask is GRAY8, GRAY16 or GRAYF32, not {image.format!r}"
        )
    raw = pb.RawImage(
        width=image.width, height=image.height, format=FORMATS[image.format], data=image.data
    )
    return pb.Mask(raw=raw)


def in_region(source: pb.StyleSource, region: pb.Mask) -> pb.StyleSource:
    """``source`` painting only where ``region`` says (regions; see the .proto)."""
    source.region.CopyFrom(region)
    return source


def stylize_setup(
    content: RawImage | bytes,
    styles: Sequence[pb.StyleSource],
    strength: float = 1.0,
    options: pb.StylizeOptions | None = None,
    optimize: pb.OptimizeOptions | None = None,
    strength_map: pb.Mask | None = None,
) -> tuple[pb.StylizeSetup, bytes]:
    """The setup message of a Stylize call and the content bytes its chunks carry.

    ``optimize`` given: the optimisation method with those options, else the fast one.
    ``strength_map``: the strength per pixel (regions; styles carry their own ``region``).
    """
    header, data = _content_header(content)
    setup = pb.StylizeSetup(content=header)
    _painting(setup, styles, strength, options, optimize, strength_map)
    return setup, data


def _painting(
    setup: pb.StylizeSetup,
    styles: Sequence[pb.StyleSource],
    strength: float,
    options: pb.StylizeOptions | None,
    optimize: pb.OptimizeOptions | None,
    strength_map: pb.Mask | None,
) -> None:
    """A setup's styles, strength, options, method and strength map (Stylize, sequences)."""
    setup.styles.extend(styles)
    if options is not None:
        setup.options.CopyFrom(options)
    if strength_map is not None:
        setup.strength_map.CopyFrom(strength_map)
    if optimize is None:
        setup.strength = strength
    else:
        setup.method = pb.METHOD_OPTIMIZE
        setup.optimize.CopyFrom(optimize)
        if strength != 1.0:
            setup.strength = strength  # the daemon says why it does not apply


@dataclass
class _CallState:
    """Events between a Stylize call's request thread and its reader."""

    accepted: threading.Event
    ended: threading.Event
    finish: threading.Event


def _requests(
    setup: pb.StylizeSetup, data: bytes, state: _CallState
) -> Iterator[pb.StylizeRequest]:
    """The setup, then (once the daemon has accepted the job) the content's chunks.

    An optimisation keeps the stream open after the content, to send `finish` on request.
    """
    yield pb.StylizeRequest(setup=setup)
    state.accepted.wait()
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK_BYTES):
        yield pb.StylizeRequest(content_chunk=bytes(view[offset : offset + CHUNK_BYTES]))
    if setup.method != pb.METHOD_OPTIMIZE:
        return
    while not state.ended.is_set():
        if state.finish.wait(0.1):
            yield pb.StylizeRequest(finish=pb.Finish())
            return


def _frame_message(frame: RawImage | bytes) -> pb.Frame:
    if isinstance(frame, RawImage):
        if frame.format not in FORMATS:
            raise ClientError("INVALID_ARGUMENT", f"unknown pixel format {frame.format!r}")
        raw = pb.RawImage(
            width=frame.width, height=frame.height, format=FORMATS[frame.format], data=frame.data
        )
        return pb.Frame(raw=raw)
    return pb.Frame(encoded=frame)


class _SequenceWindow:
    """Frames sent minus frames answered, kept at most SEQUENCE_WINDOW: the request thread
    waits for answers, so a long clip never piles up in memory on either side."""

    def __init__(self) -> None:
        self.accepted = threading.Event()
        self.ended = threading.Event()
        self._answered = threading.Semaphore(SEQUENCE_WINDOW)

    def wait_for_room(self) -> bool:
        while not self.ended.is_set():
            if self._answered.acquire(timeout=0.1):
                return True
        return False

    def answered(self) -> None:
        self._answered.release()


def _sequence_requests(
    setup: pb.StylizeSequenceSetup, frames: Iterable[RawImage | bytes], window: _SequenceWindow
) -> Iterator[pb.StylizeSequenceRequest]:
    yield pb.StylizeSequenceRequest(setup=setup)
    window.accepted.wait()
    for frame in frames:
        if not window.wait_for_room():
            return
        yield pb.StylizeSequenceRequest(frame=_frame_message(frame))


def _content_header(content: RawImage | bytes) -> tuple[pb.ContentHeader, bytes]:
    if isinstance(content, RawImage):
        if content.format not in FORMATS:
            raise ClientError("INVALID_ARGUMENT", f"unknown pixel format {content.format!r}")
        raw = pb.RawImage(
            width=content.width, height=content.height, format=FORMATS[content.format]
        )
        return pb.ContentHeader(raw=raw, total_bytes=len(content.data)), content.data
    return pb.ContentHeader(encoded=pb.EncodedKind(), total_bytes=len(content)), content


class StylizeClient:
    """One channel to one daemon (or a pool of them). ``token`` defaults to ``$STYLIZE_TOKEN``.

    TLS: ``root_certificates`` is the PEM CA that signed the daemon's certificate
    (None with a client certificate: the system's roots); ``private_key`` and
    ``certificate_chain`` are this client's, for a daemon that requires mTLS.

    ``address`` is any gRPC target: ``host:port``, ``ipv4:A:P,B:P``, ``dns:///host:port``.
    """

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
    ) -> None:
        self.address = address or default_address()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        token = token_text(token if token is not None else os.environ.get("STYLIZE_TOKEN"))
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = channel_options()
        if root_certificates is not None or certificate_chain is not None:
            # TLS; with a key and certificate, the client proves who it is (mTLS)
            credentials = grpc.ssl_channel_credentials(
                root_certificates, private_key, certificate_chain
            )
            self._channel = grpc.secure_channel(self.address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(self.address, options=options)
        self._stub = stylize_pb2_grpc.StyleTransferStub(self._channel)
        self._active: grpc.Future | None = None  # the Stylize call in flight, for cancel()
        self._cancelled = False
        self._finish = threading.Event()  # finish() was called

    def __enter__(self) -> StylizeClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def wait_until_reachable(self) -> None:
        """Wait up to ``connect_timeout`` for a daemon that answers and has loaded its models."""
        self.info()

    def _retrying(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` until it succeeds, fails for good, or its time is up.

        The one retry loop of every bundled client. It repeats a call that never reached
        a daemon (none listening yet, or still loading: for up to ``connect_timeout``),
        and a refusal the daemon marked retryable (RetryInfo: BUSY, MEMORY_BUSY, ...) with
        the delay it asked for, until the call's ``timeout``. A job the daemon had accepted
        is never repeated.
        """
        started = time.monotonic()
        deadline = started + (self.timeout or DEFAULT_TIMEOUT)
        connect_deadline = started + self.connect_timeout
        while True:
            try:
                return attempt()
            except ClientError as error:
                if error.started:
                    raise
                delay = error.retry_after
                if delay is None and _not_reached(error):
                    delay = _PROBE_INTERVAL if time.monotonic() < connect_deadline else None
                if delay is None:
                    raise
                delay = min(max(delay, 0.05), _MAX_RETRY_DELAY)
                if time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)

    def _call(self, method: Callable[..., T], request: object) -> T:
        def attempt() -> T:
            try:
                return method(request, timeout=self.timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                raise client_error(error, self.address) from None

        return self._retrying(attempt)

    def info(self) -> pb.GetInfoResponse:
        return self._call(self._stub.GetInfo, pb.GetInfoRequest())

    def predict_style(
        self, style: pb.StyleSource, preprocess: pb.StylePreprocess | None = None
    ) -> list[float]:
        request = pb.PredictStyleRequest(style=style, preprocess=preprocess)
        response: pb.PredictStyleResponse = self._call(self._stub.PredictStyle, request)
        return list(response.vector.values)

    def list_styles(self, thumbnail_side: int = 0) -> list[pb.NamedStyleInfo]:
        """Every named style of the daemon, with thumbnails, following the pages."""
        styles: list[pb.NamedStyleInfo] = []
        token = ""
        while True:
            request = pb.ListStylesRequest(page_token=token, thumbnail_side=thumbnail_side)
            page: pb.ListStylesResponse = self._call(self._stub.ListStyles, request)
            styles.extend(page.styles)
            token = page.next_page_token
            if not token:
                return styles

    def add_style(self, name: str, image: bytes) -> pb.NamedStyleInfo:
        """Store ``image`` (an encoded file) in the daemon's library as the new style ``name``."""
        request = pb.AddStyleRequest(name=name, image=image)
        response: pb.AddStyleResponse = self._call(self._stub.AddStyle, request)
        return response.style

    def stylize(
        self,
        content: RawImage | bytes,
        styles: Sequence[pb.StyleSource],
        strength: float = 1.0,
        options: pb.StylizeOptions | None = None,
        on_progress: ProgressCallback | None = None,
        optimize: pb.OptimizeOptions | None = None,
        on_preview: PreviewCallback | None = None,
        strength_map: pb.Mask | None = None,
    ) -> StylizeResult:
        """Stylize ``content`` (raw pixels or an encoded file); blocks until the result is in.

        ``optimize`` given: the optimisation method; ``on_preview`` receives its
        intermediate images (every ``optimize.preview_every`` iterations), and
        :meth:`finish` ends it early with the best image so far. Regions: give styles a
        ``region`` (:func:`in_region`) and/or a ``strength_map`` (:func:`file_mask`,
        :func:`raw_mask`).
        """
        setup, data = stylize_setup(content, styles, strength, options, optimize, strength_map)
        self._finish.clear()  # a finish() ends the call in flight, never the next one
        return self._retrying(lambda: self._stylize_once(setup, data, on_progress, on_preview))

    def stylize_sequence(
        self,
        frames: Iterable[RawImage | bytes],
        styles: Sequence[pb.StyleSource],
        strength: float = 1.0,
        options: pb.StylizeOptions | None = None,
        consistency: pb.Consistency | None = None,
        total_frames: int = 0,
        on_progress: ProgressCallback | None = None,
        strength_map: pb.Mask | None = None,
        optimize: pb.OptimizeOptions | None = None,
    ) -> Iterator[SequenceFrame]:
        """Stylize a sequence of frames (StylizeSequence): yields their results in order.

        ``frames`` is read lazily, a few frames ahead of the answers (SEQUENCE_WINDOW),
        so a decoder can feed it. The call has no deadline (a clip may take hours);
        the daemon ends it if no frame arrives for its receive timeout. :meth:`cancel`
        stops it. Refusals before the first frame are raised, not retried. Regions
        (styles with a ``region``, a ``strength_map``) apply to every frame;
        ``optimize`` given: the optimisation method, each frame started from the
        previous result warped to it.
        """
        setup = pb.StylizeSequenceSetup(consistency=consistency, total_frames=total_frames)
        _painting(setup.stylize, styles, strength, options, optimize, strength_map)
        if self._cancelled:
            raise ClientError("CANCELLED", "the call was cancelled")
        window = _SequenceWindow()
        call = self._stub.StylizeSequence(
            _sequence_requests(setup, frames, window), timeout=None, metadata=self._metadata
        )
        self._active = call
        if self._cancelled:
            call.cancel()
        try:
            for event in call:
                window.accepted.set()
                if event.WhichOneof("event") == "progress":
                    if on_progress is not None:
                        on_progress(event.progress)
                    continue
                window.answered()
                yield _sequence_frame(event.frame)
        except grpc.RpcError as error:
            raise client_error(error, self.address, started=window.accepted.is_set()) from None
        finally:
            self._active = None
            window.ended.set()
            window.accepted.set()
            call.cancel()  # a no-op after OK; stops the call if the caller stopped reading

    def cancel(self) -> None:
        """Cancel the call in flight (from any thread): the daemon stops its job at once."""
        self._cancelled = True
        call = self._active
        if call is not None:
            call.cancel()

    def finish(self) -> None:
        """Ask the optimisation in flight (from any thread) to stop and send its best image."""
        self._finish.set()

    def _stylize_once(
        self,
        setup: pb.StylizeSetup,
        data: bytes,
        on_progress: ProgressCallback | None,
        on_preview: PreviewCallback | None,
    ) -> StylizeResult:
        if self._cancelled:
            raise ClientError("CANCELLED", "the call was cancelled")
        state = _CallState(threading.Event(), threading.Event(), self._finish)
        call = self._stub.Stylize(
            _requests(setup, data, state), timeout=self.timeout, metadata=self._metadata
        )
        self._active = call
        if self._cancelled:  # cancel() ran between the check above and this call
            call.cancel()
        try:
            return _collect(call, state.accepted, on_progress, on_preview)
        except grpc.RpcError as error:
            raise client_error(error, self.address, started=state.accepted.is_set()) from None
        finally:
            self._active = None
            state.ended.set()
            state.accepted.set()  # never leave the request thread waiting


def _collect(
    events: Iterator[pb.StylizeEvent],
    accepted: threading.Event,
    on_progress: ProgressCallback | None,
    on_preview: PreviewCallback | None = None,
) -> StylizeResult:
    header: pb.ResultHeader | None = None
    chunks: list[bytes] = []
    for event in events:
        accepted.set()  # the daemon's first event: the job is admitted, send the content
        kind = event.WhichOneof("event")
        if kind == "progress" and on_progress is not None:
            on_progress(event.progress)
        elif kind == "preview" and on_preview is not None:
            on_preview(event.preview)
        elif kind == "result":
            header = event.result
        elif kind == "result_chunk":
            chunks.append(event.result_chunk)
    data = b"".join(chunks)
    if header is None or len(data) != header.total_bytes:
        received = "no result" if header is None else f"{len(data)} of {header.total_bytes} bytes"
        raise ClientError(
            "DATA_LOSS", f"the daemon's answer was incomplete ({received})", started=True
        )
    image = None
    if header.format == pb.OUTPUT_FORMAT_RAW:
        image = RawImage(
            header.image.width, header.image.height, FORMAT_NAMES[header.image.format], data
        )
    return StylizeResult(
        image=image,
        encoded=None if image is not None else data,
        vector=list(header.vector.values),
        seconds=header.seconds,
        iterations=header.iterations,
        loss=header.loss.total if header.HasField("loss") else None,
        finished_early=header.finished_early,
    )


def _sequence_frame(frame: pb.Frame) -> SequenceFrame:
    image = None
    if frame.WhichOneof("image") == "raw":
        raw = frame.raw
        image = RawImage(raw.width, raw.height, FORMAT_NAMES[raw.format], raw.data)
    return SequenceFrame(
        index=frame.index,
        image=image,
        encoded=frame.encoded if image is None else None,
        scene_cut=frame.scene_cut,
        reliable=frame.reliable,
        seconds=frame.seconds,
    )


def _details(error: grpc.RpcError) -> tuple[str, str | None, float | None]:
    """(reason, field, retry_after) from the google.rpc.Status details, if any."""
    reason, field, retry_after = "", None, None
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            if bad.field_violations:
                field = bad.field_violations[0].field
    return reason, field, retry_after


def _not_reached(error: ClientError) -> bool:
    """The call failed before any daemon answered it (transport UNAVAILABLE, or NOT_READY)."""
    return error.code == "UNAVAILABLE" and error.reason in ("", "NOT_READY") and not error.started


def _request_id(error: grpc.RpcError) -> str | None:
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == REQUEST_ID_KEY:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def client_error(error: grpc.RpcError, address: str, started: bool = False) -> ClientError:
    """The ClientError for a failed call: the daemon's (or the transport's) own words.

    Turning them into advice for a person is ``stylize.client.user_messages``'s job alone.
    """
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else str(error)) or code.name
    reason, field, retry_after = _details(error)
    return ClientError(
        code.name,
        details,
        reason=reason,
        field=field,
        retry_after=retry_after,
        started=started,
        request_id=_request_id(error),
    )

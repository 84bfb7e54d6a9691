"""A small Python client for the Stylize daemon: chunking, limits, deadlines, errors.

Imports only grpc and the generated stubs (no numpy, no TensorFlow), so the
GIMP bridge and other lightweight programs can use it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

import grpc

from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
CHUNK_BYTES = 1 << 20
MAX_MESSAGE_BYTES = 64 << 20
_PROBE_INTERVAL = 0.25  # matches the daemon's default; see protos/stylize/v1/stylize.proto

FORMATS = {
    "RGB8": pb.PIXEL_FORMAT_RGB8,
    "RGBA8": pb.PIXEL_FORMAT_RGBA8,
    "GRAY8": pb.PIXEL_FORMAT_GRAY8,
    "GRAYA8": pb.PIXEL_FORMAT_GRAYA8,
}
FORMAT_NAMES = {value: name for name, value in FORMATS.items()}
CHANNELS = {"RGB8": 3, "RGBA8": 4, "GRAY8": 1, "GRAYA8": 2}


class ClientError(Exception):
    """A failed call: ``code`` is the gRPC status name, ``message`` the daemon's words."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RawImage:
    width: int
    height: int
    format: str  # RGB8 | RGBA8 | GRAY8 | GRAYA8
    data: bytes


@dataclass(frozen=True)
class StylizeResult:
    image: RawImage | None  # for raw content
    encoded: bytes | None  # PNG, for encoded content
    vector: list[float]
    seconds: float


ProgressCallback = Callable[[pb.Progress], None]


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


def _requests(setup: pb.StylizeSetup, data: bytes) -> Iterator[pb.StylizeRequest]:
    yield pb.StylizeRequest(setup=setup)
    view = memoryview(data)
    for offset in range(0, len(data), CHUNK_BYTES):
        yield pb.StylizeRequest(content_chunk=bytes(view[offset : offset + CHUNK_BYTES]))


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
    """One channel to one daemon. ``token`` defaults to ``$STYLIZE_TOKEN``."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        token: str | None = None,
        timeout: float | None = 600.0,
        connect_timeout: float = 2.0,
        root_certificates: bytes | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        token = token if token is not None else os.environ.get("STYLIZE_TOKEN")
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = stylize_pb2_grpc.StyleTransferStub(self._channel)
        self._reachable = False  # probed once per client, before its first call

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
        """Wait up to ``connect_timeout`` for a daemon that answers (and has loaded its models).

        Probes with GetInfo rather than a channel-state watcher: a refused
        connection fails fast, so this costs one round trip when all is well.
        """
        if self._reachable:
            return
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                self._stub.GetInfo(
                    pb.GetInfoRequest(),
                    timeout=max(self.connect_timeout, 1.0),
                    metadata=self._metadata,
                )
                return
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    self._reachable = True
                    return  # it answers; the real call reports auth or other problems
                if time.monotonic() >= deadline:
                    raise _client_error(error, self.address) from None
            time.sleep(_PROBE_INTERVAL)

    def _call(self, method: Callable[..., object], request: object) -> object:
        self.wait_until_reachable()
        try:
            return method(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise _client_error(error, self.address) from None

    def info(self) -> pb.GetInfoResponse:
        return self._call(self._stub.GetInfo, pb.GetInfoRequest())  # type: ignore[return-value]

    def predict_style(
        self, style: pb.StyleSource, preprocess: pb.StylePreprocess | None = None
    ) -> list[float]:
        request = pb.PredictStyleRequest(style=style, preprocess=preprocess)
        response: pb.PredictStyleResponse = self._call(self._stub.PredictStyle, request)  # type: ignore[assignment]
        return list(response.vector.values)

    def stylize(
        self,
        content: RawImage | bytes,
        styles: Sequence[pb.StyleSource],
        strength: float = 1.0,
        options: pb.StylizeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> StylizeResult:
        """Stylize ``content`` (raw pixels or an encoded file); blocks until the result is in."""
        header, data = _content_header(content)
        setup = pb.StylizeSetup(
            content=header, styles=list(styles), strength=strength, options=options
        )
        self.wait_until_reachable()
        try:
            events = self._stub.Stylize(
                _requests(setup, data), timeout=self.timeout, metadata=self._metadata
            )
            return _collect(events, on_progress)
        except grpc.RpcError as error:
            raise _client_error(error, self.address) from None


def _collect(
    events: Iterator[pb.StylizeEvent], on_progress: ProgressCallback | None
) -> StylizeResult:
    header: pb.ResultHeader | None = None
    chunks: list[bytes] = []
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "progress" and on_progress is not None:
            on_progress(event.progress)
        elif kind == "result":
            header = event.result
        elif kind == "result_chunk":
            chunks.append(event.result_chunk)
    data = b"".join(chunks)
    if header is None or len(data) != header.total_bytes:
        received = "no result" if header is None else f"{len(data)} of {header.total_bytes} bytes"
        raise ClientError("DATA_LOSS", f"the daemon's answer was incomplete ({received})")
    vector = list(header.vector.values)
    if header.format == pb.OUTPUT_FORMAT_RAW:
        image = RawImage(
            header.image.width, header.image.height, FORMAT_NAMES[header.image.format], data
        )
        return StylizeResult(image=image, encoded=None, vector=vector, seconds=header.seconds)
    return StylizeResult(image=None, encoded=data, vector=vector, seconds=header.seconds)


def _client_error(error: grpc.RpcError, address: str) -> ClientError:
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    if code == grpc.StatusCode.UNAVAILABLE and "loading" not in details:
        details = (
            f"no Stylize daemon answers at {address} ({details}); start one with: stylize serve"
        )
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        details = f"the daemon at {address} did not finish in time ({details}); try a smaller image"
    return ClientError(code.name, details or code.name)

"""The Stylize stream's protocol after admission: the setup message, the content's chunks
up to their declared size, then at most one `finish` (.proto, "Stylize").

The servicer calls these in order; each refusal names the field at fault.
"""

from __future__ import annotations

import threading
import time

import grpc

from stylize.engine import images
from stylize.engine.errors import (
    CancelledError,
    InvalidInputError,
    LimitExceededError,
    StylizeError,
    UploadTimeoutError,
)
from stylize.server import wire
from stylize.server.config import ServerConfig
from stylize.server.request_reader import RequestReader
from stylize.v1 import stylize_pb2 as pb


def receive_setup(reader: RequestReader[pb.StylizeRequest]) -> pb.StylizeSetup:
    first = reader.next_message("setup message")
    if first is not None:
        first = wire.check_decoded(first, pb.StylizeRequest, "the first message")
    if first is None or first.WhichOneof("message") != "setup":
        raise InvalidInputError(
            "the first message of a Stylize call must be `setup`", field="setup"
        )
    return first.setup


def expected_content_bytes(header: pb.ContentHeader, config: ServerConfig) -> int:
    """The content's declared size in bytes, refused if the setup's header is wrong."""
    kind = header.WhichOneof("kind")
    if kind == "raw":
        raw = header.raw
        mode, depth = wire.pixel_layout(raw.format, "content image")
        try:
            config.image_limits.check(raw.width, raw.height, "content image")
        except StylizeError as error:
            error.field = "content.raw"
            raise
        needed = images.raw_bytes(raw.width, raw.height, mode, depth)
        if header.total_bytes != needed:
            name = pb.PixelFormat.Name(raw.format).removeprefix("PIXEL_FORMAT_")
            raise InvalidInputError(
                f"content image: raw {name} {raw.width}x{raw.height} needs "
                f"{needed:,} bytes but total_bytes is {header.total_bytes:,}",
                field="content.total_bytes",
            )
        return needed
    if kind == "encoded":
        if header.total_bytes == 0:
            raise InvalidInputError(
                "content image is empty (total_bytes is 0)", field="content.total_bytes"
            )
        if header.total_bytes > config.max_encoded_bytes:
            raise LimitExceededError(
                f"content file is {header.total_bytes:,} bytes; this daemon accepts at most "
                f"{config.max_encoded_bytes:,}",
                field="content.total_bytes",
            )
        return header.total_bytes
    raise InvalidInputError(
        "setup.content must say whether the content is `encoded` or `raw`",
        field="content",
    )


def receive_content(
    reader: RequestReader[pb.StylizeRequest],
    expected: int,
    context: grpc.ServicerContext,
) -> bytearray:
    """The content's bytes, into one buffer of the declared size (no copies).

    Reading stops at the declared size: the client may keep its side open to send
    `finish` later (see :class:`Controls`).
    """
    buffer = bytearray(expected)
    received = 0
    while received < expected:
        message = reader.next_message("content chunk")
        if message is None:
            break
        message = wire.check_decoded(message, pb.StylizeRequest, "a content message")
        if message.WhichOneof("message") != "content_chunk":
            raise InvalidInputError(
                "after `setup`, `content_chunk` messages must carry the content's declared "
                "total_bytes before anything else (`finish` may follow them)",
                field="setup",
            )
        chunk = message.content_chunk
        if received + len(chunk) > expected:
            raise InvalidInputError(
                f"content chunks carry more than the declared {expected:,} bytes",
                field="content.total_bytes",
            )
        buffer[received : received + len(chunk)] = chunk
        received += len(chunk)
    if received != expected:
        if went_away(context):  # a cancel can reach us as the end of the stream
            raise CancelledError("the client went away during the upload")
        raise InvalidInputError(
            f"content ended after {received:,} of the declared {expected:,} bytes",
            field="content.total_bytes",
        )
    return buffer


def went_away(context: grpc.ServicerContext, grace: float = 0.25) -> bool:
    """Whether the call ends within ``grace`` seconds (the client cancelled it)."""
    deadline = time.monotonic() + grace
    while context.is_active():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


class ControlListener:
    """Reads the request stream after the content: a `finish` message, or a violation.

    Runs in its own thread for the whole job, so a client can say "finish now" while
    the job runs; anything else it sends then ends the call with INVALID_ARGUMENT.
    """

    def __init__(self, reader: RequestReader[pb.StylizeRequest]) -> None:
        self.finish = threading.Event()
        self.cancelled = threading.Event()
        self.violation: StylizeError | None = None
        self._finish_received = False  # finish_all() also sets `finish`: not the client's
        self._done = threading.Event()
        self._reader = reader
        self._thread = threading.Thread(target=self._listen, name="stylize-controls", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                message = self._reader.next_message("control message", timeout=0.5)
            except UploadTimeoutError:
                continue
            except StylizeError:  # the client went away: the call's callback cancels
                return
            if message is None:
                return
            self._take(message)

    def _take(self, message: object) -> None:
        is_finish = (
            isinstance(message, pb.StylizeRequest) and message.WhichOneof("message") == "finish"
        )
        if is_finish and not self._finish_received:  # the .proto: a second one is invalid
            self._finish_received = True
            self.finish.set()
            return
        self.violation = InvalidInputError(
            "after the content's declared total_bytes, only one `finish` message may follow",
            field="finish" if is_finish else "content.total_bytes",
        )
        self.cancelled.set()
        self._done.set()

    def close(self) -> None:
        self._done.set()

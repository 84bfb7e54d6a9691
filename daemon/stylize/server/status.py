"""The one place where errors become gRPC statuses, with google.rpc.Status details.

Every refusal carries an ``ErrorInfo`` (domain ``stylize.v1``, a stable
``reason`` listed in README "Errors"); refusals that may succeed later add a
``RetryInfo`` delay, and errors about one request field add a ``BadRequest``
field violation naming it (e.g. ``setup.styles[1].named``). Retry steering for
gRPC's own retry policy rides in the ``grpc-retry-pushback-ms`` trailer: the
delay for retryable refusals, ``-1`` (do not retry) for the rest.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from stylize.engine.errors import (
    CancelledError,
    InvalidInputError,
    LimitExceededError,
    NotReadyError,
    StyleExistsError,
    StylizeError,
    UnknownStyleError,
    UploadTimeoutError,
)

log = logging.getLogger(__name__)

DOMAIN = "stylize.v1"
# Statuses must stay small enough to deliver, whatever the input: the message travels
# twice (grpc-message, percent-encoded: up to 3 bytes per byte; and in the details'
# Status and BadRequest), and a client refuses trailers beyond 8 KiB (grpcio's soft
# limit). So the cap counts UTF-8 bytes, not characters (an emoji is 4 bytes).
MAX_MESSAGE_BYTES = 1000
MAX_FIELD_BYTES = 200
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"

_CODES: tuple[tuple[type[StylizeError], grpc.StatusCode], ...] = (
    (UnknownStyleError, grpc.StatusCode.NOT_FOUND),
    (StyleExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (CancelledError, grpc.StatusCode.CANCELLED),
    (UploadTimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (NotReadyError, grpc.StatusCode.UNAVAILABLE),
)


def _out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    try:
        import tensorflow as tf

        return isinstance(error, tf.errors.ResourceExhaustedError)
    except ImportError:  # pragma: no cover - tensorflow is a dependency of the daemon
        return False


def shorten(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes on a character boundary, saying so."""
    encoded = text.encode("utf-8", "replace")  # a lone surrogate cannot travel: "?"
    if len(encoded) <= limit:
        return encoded.decode("utf-8")
    tail = f"… ({len(text):,} chars)"
    keep = max(0, limit - len(tail.encode("utf-8")))
    return encoded[:keep].decode("utf-8", "ignore") + tail  # "ignore": a cut character


@dataclass(frozen=True)
class _Status(grpc.Status):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _as_stylize_error(error: BaseException) -> StylizeError:
    if isinstance(error, StylizeError):
        return error
    if _out_of_memory(error):
        out = LimitExceededError(
            "the daemon ran out of memory for this image; scale it down or set "
            "options.max_side (CLI: --max-side)"
        )
        out.reason = "OUT_OF_MEMORY"
        return out
    log.error("internal error", exc_info=error)
    internal = StylizeError(f"internal error ({type(error).__name__}); see the daemon's log")
    internal.reason = "INTERNAL"
    return internal


def code_of(error: StylizeError) -> grpc.StatusCode:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def rich_status(error: BaseException) -> tuple[grpc.Status, StylizeError]:
    """The gRPC status (with details) for ``error``, and the error it was read as."""
    refusal = _as_stylize_error(error)
    code = code_of(refusal)
    message = shorten(str(refusal))
    details = [
        _packed(
            error_details_pb2.ErrorInfo(
                reason=shorten(refusal.reason, MAX_FIELD_BYTES),
                domain=DOMAIN,
                metadata={"code": code.name},
            )
        )
    ]
    if refusal.retry_after is not None:
        seconds = max(0.0, refusal.retry_after)
        details.append(
            _packed(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(
                        seconds=int(seconds), nanos=int((seconds % 1) * 1e9)
                    )
                )
            )
        )
    if refusal.field is not None:
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=shorten(refusal.field, MAX_FIELD_BYTES), description=message
        )
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    proto = status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)
    plain = rpc_status.to_status(proto)
    trailers = (*plain.trailing_metadata, (RETRY_PUSHBACK_KEY, pushback_ms(refusal)))
    return _Status(code, message, trailers), refusal


def pushback_ms(refusal: StylizeError) -> str:
    """The retry-pushback trailer: a delay for retryable refusals, -1 (never) otherwise."""
    if refusal.retry_after is None or not math.isfinite(refusal.retry_after):
        return "-1"
    return str(int(refusal.retry_after * 1000))


def abort(context: grpc.ServicerContext, error: BaseException) -> None:
    """End the call with ``error``'s status and details (raises, as context.abort does)."""
    status, refusal = rich_status(error)
    log.info(
        "request failed code=%s reason=%s message=%r",
        status.code.name,
        refusal.reason,
        shorten(status.details, 300),
    )
    context.abort_with_status(status)

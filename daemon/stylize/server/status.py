"""The one place where engine errors become gRPC status codes."""

from __future__ import annotations

import logging

import grpc

from stylize.engine.errors import (
    CancelledError,
    InvalidInputError,
    LimitExceededError,
    UnknownStyleError,
)

log = logging.getLogger(__name__)


def _out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    try:
        import tensorflow as tf

        return isinstance(error, tf.errors.ResourceExhaustedError)
    except ImportError:  # pragma: no cover - tensorflow is a dependency of the daemon
        return False


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(error, UnknownStyleError):
        return grpc.StatusCode.NOT_FOUND, str(error)
    if isinstance(error, InvalidInputError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(error)
    if isinstance(error, LimitExceededError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, str(error)
    if isinstance(error, CancelledError):
        return grpc.StatusCode.CANCELLED, str(error)
    if _out_of_memory(error):
        return grpc.StatusCode.RESOURCE_EXHAUSTED, (
            "the daemon ran out of memory for this image; scale it down or set "
            "options.max_side (CLI: --max-side)"
        )
    log.exception("internal error", exc_info=error)
    return (
        grpc.StatusCode.INTERNAL,
        f"internal error ({type(error).__name__}); see the daemon's log",
    )


def abort(context: grpc.ServicerContext, error: BaseException) -> None:
    code, message = status_of(error)
    log.info("request failed code=%s message=%r", code.name, message)
    context.abort(code, message)

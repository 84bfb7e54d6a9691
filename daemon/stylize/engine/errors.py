"""Errors the engine and the daemon raise for requests they refuse.

Each class carries a stable machine-readable ``reason`` (sent as
``google.rpc.ErrorInfo.reason``, listed in README "Errors"), and may name the
request ``field`` at fault (sent as a ``google.rpc.BadRequest`` field violation)
and a ``retry_after`` delay for refusals that may succeed later (sent as
``google.rpc.RetryInfo``). The server maps classes to status codes in one
place, ``server/status.py``.
"""

from __future__ import annotations


class StylizeError(Exception):
    """Base class: the message is shown to the user as is, so it says what to do."""

    reason = "STYLIZE_ERROR"
    retry_after: float | None = None  # seconds; set only where retrying can succeed

    def __init__(
        self, message: str, *, field: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidInputError(StylizeError, ValueError):
    """The request is malformed: corrupt image, bad weights, wrong vector length..."""

    reason = "INVALID_ARGUMENT"


class UnsupportedFormatError(InvalidInputError):
    """An image in a file format the daemon does not decode (only the allowlist is)."""

    reason = "UNSUPPORTED_FORMAT"


class TooManyStylesError(InvalidInputError):
    """More styles in one request than the daemon mixes."""

    reason = "TOO_MANY_STYLES"


class UnknownStyleError(InvalidInputError):
    """A named style is not in the style library."""

    reason = "UNKNOWN_STYLE"


class StyleExistsError(StylizeError):
    """A style is added under a name the library already has."""

    reason = "STYLE_EXISTS"


class LimitExceededError(StylizeError):
    """The request is well-formed but beyond a configured bound (pixels, size, styles)."""

    reason = "LIMIT_EXCEEDED"


class BusyError(LimitExceededError):
    """Every job slot is taken right now; the same request may succeed shortly."""

    reason = "BUSY"
    retry_after = 1.0


class InsufficientMemoryError(LimitExceededError):
    """The job would fit in the memory budget, but not while other jobs hold it."""

    reason = "MEMORY_BUSY"
    retry_after = 2.0


class TooLargeForMemoryError(LimitExceededError):
    """The job needs more memory than this daemon has at all: retrying cannot help."""

    reason = "TOO_LARGE_FOR_MEMORY"


class RateLimitedError(LimitExceededError):
    """One client sends more than its share; the same request may succeed later."""

    reason = "RATE_LIMITED"
    retry_after = 1.0


class UploadTimeoutError(StylizeError):
    """The client stopped sending in the middle of its request."""

    reason = "UPLOAD_TIMEOUT"


class NotReadyError(StylizeError):
    """The daemon is still loading its models, or is shutting down."""

    reason = "NOT_READY"
    retry_after = 1.0


class CancelledError(StylizeError):
    """The caller went away; the job stopped early."""

    reason = "CANCELLED"

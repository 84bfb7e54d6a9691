"""Errors the engine raises for bad requests; the server maps them to gRPC status codes."""


class StylizeError(Exception):
    """Base class: the message is shown to the user as is, so it says what to do."""


class InvalidInputError(StylizeError, ValueError):
    """The request is malformed: corrupt image, bad weights, wrong vector length..."""


class LimitExceededError(StylizeError):
    """The request is well-formed but beyond a configured bound (pixels, size, queue)."""


class UnknownStyleError(InvalidInputError):
    """A named style is not in the style library."""


class CancelledError(StylizeError):
    """The caller went away; the job stopped early."""

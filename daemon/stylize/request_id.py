"""The id of the request being served, for every log line written while serving it.

The gRPC edge sets it per call (:mod:`stylize.server.observe`); a logging filter
copies it onto each record, so lines from the engine and the job threads carry
it too without knowing about requests. No gRPC here: :mod:`stylize.logs` uses it.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def current() -> str | None:
    return _CURRENT.get()


def accept_or_new(offered: str | None) -> str:
    """The client's id if it is short and plain (it ends up in logs), else a fresh one."""
    if offered and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex[:16]


def context_for(request_id: str) -> contextvars.Context:
    """A fresh context in which :func:`current` is ``request_id``."""
    context = contextvars.copy_context()
    context.run(_CURRENT.set, request_id)
    return context


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` (or None) on every record that passes through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _CURRENT.get()
        return True

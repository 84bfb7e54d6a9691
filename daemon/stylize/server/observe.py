"""The outermost interceptor: a request id, an access-log line and metrics for every RPC.

The id comes from the client's ``x-request-id`` metadata when it is sane, else
it is made here; the handler runs in a context where
:func:`stylize.request_id.current` returns it (so every log line carries it),
and the status's trailing metadata carries it back as ``stylize-request-id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from stylize import request_id
from stylize.server.interception import Behaviour, wrap_handler
from stylize.server.metrics import Metrics

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_TRAILER = "stylize-request-id"
_QUIET = ("grpc.health.v1.Health/", "grpc.reflection.")  # probes: access-logged at debug
_STATUS_DETAILS = "grpc-status-details-bin"
_END = object()  # the end of a response stream


class _TaggedContext:
    """The servicer's context, except that trailers always carry the request id."""

    def __init__(self, context: grpc.ServicerContext, rid: str) -> None:
        self._context = context
        self._tag = ((REQUEST_ID_TRAILER, rid),)
        context.set_trailing_metadata(self._tag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._context.set_trailing_metadata((*tuple(metadata or ()), *self._tag))

    def abort_with_status(self, status: grpc.Status) -> None:
        # what grpc's own abort_with_status does, keeping the tag among the trailers
        self.set_trailing_metadata(status.trailing_metadata)
        self._context.abort(status.code, status.details)


def _refusal_reason(context: grpc.ServicerContext) -> str | None:
    """The ``ErrorInfo.reason`` of a google.rpc.Status in the trailers, if there is one."""
    for key, value in context.trailing_metadata() or ():
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return None


class _Call:
    """One RPC being served: its id, its clock, its outcome."""

    def __init__(self, method: str, offered: str | None, context: grpc.ServicerContext) -> None:
        self.method = method
        self.id = request_id.accept_or_new(offered)
        self.context = _TaggedContext(context, self.id)
        self.run = request_id.context_for(self.id).run
        self.started = time.perf_counter()

    def outcome(self, raised: bool) -> grpc.StatusCode:
        if not self.context.is_active():  # the client left before any status was sent
            expired = self.context.time_remaining() <= 0
            return grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        code = self.context.code()
        if code is None:
            return grpc.StatusCode.UNKNOWN if raised else grpc.StatusCode.OK
        return code  # type: ignore[no-any-return]


class ObservabilityInterceptor(grpc.ServerInterceptor):
    def __init__(self, metrics: Metrics, insecure_notice: bool = False) -> None:
        self._metrics = metrics
        self._insecure_notice = insecure_notice

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED, nothing to label
        method = handler_call_details.method.lstrip("/")
        offered = dict(handler_call_details.invocation_metadata or ()).get(REQUEST_ID_HEADER)

        def wrapper(inner: Behaviour, streaming: bool) -> Behaviour:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                call = self._start(method, offered, context)
                try:
                    response = call.run(inner, request, call.context)
                except BaseException:
                    self._finish(call, raised=True)
                    raise
                self._finish(call, raised=False)
                return response

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                call = self._start(method, offered, context)
                raised = True
                try:
                    responses = call.run(inner, request, call.context)
                    while (item := call.run(next, responses, _END)) is not _END:
                        yield item
                    raised = False
                finally:  # also on GeneratorExit: grpc dropped the stream (client gone)
                    self._finish(call, raised)

            return stream if streaming else unary

        return wrap_handler(handler, wrapper)

    def _start(
        self, method: str, offered: str | bytes | None, context: grpc.ServicerContext
    ) -> _Call:
        self._metrics.started(method)
        return _Call(method, _text(offered), context)

    def _finish(self, call: _Call, raised: bool) -> None:
        code = call.outcome(raised)
        seconds = time.perf_counter() - call.started
        reason = _refusal_reason(call.context) if code != grpc.StatusCode.OK else None
        self._metrics.record(call.method, code, seconds, reason)
        level = logging.DEBUG if call.method.startswith(_QUIET) else logging.INFO
        notice = ""
        if self._insecure_notice and call.method.endswith("/GetInfo"):
            level, notice = logging.WARNING, " transport=insecure (--insecure, no TLS)"
        call.run(
            log.log,
            level,
            "rpc method=%s code=%s seconds=%.3f%s",
            call.method,
            code.name,
            seconds,
            notice,
        )


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value

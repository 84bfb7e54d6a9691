"""Bearer-token authentication, required whenever the daemon listens beyond loopback."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

from stylize.tokens import token_text

OPEN_METHODS = ("/grpc.health.v1.Health/",)  # health probes stay unauthenticated


def _deny(message: str) -> grpc.RpcMethodHandler:
    def handler(request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(handler)


def _deny_stream(message: str) -> grpc.RpcMethodHandler:
    def handler(request_iterator: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.stream_stream_rpc_method_handler(handler)


class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Accepts calls whose ``authorization`` metadata is ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        if token_text(token) != token:  # ServerConfig applies the rule; never a blank one here
            raise ValueError("the token must be non-blank, without whitespace around it")
        self._expected = f"Bearer {token}".encode()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(OPEN_METHODS):
            return continuation(handler_call_details)
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = str(metadata.get("authorization", "")).encode()
        if hmac.compare_digest(given, self._expected):
            return continuation(handler_call_details)
        message = "missing or wrong token: pass the daemon's token (STYLIZE_TOKEN or --token-file)"
        handler = continuation(handler_call_details)
        if handler is not None and handler.request_streaming:
            return _deny_stream(message)
        return _deny(message)

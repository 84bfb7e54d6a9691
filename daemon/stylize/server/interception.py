"""Wrap the behaviour of a gRPC method handler, whatever its streaming kind.

grpc.ServerInterceptor only sees the method name and metadata; anything that
needs the ServicerContext (peer, status code, trailers) wraps the behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
# (inner behaviour, whether it streams responses) -> outer behaviour
Wrapper = Callable[[Behaviour, bool], Behaviour]

_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def wrap_handler(handler: grpc.RpcMethodHandler, wrapper: Wrapper) -> grpc.RpcMethodHandler:
    inner = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    factory: Callable[..., grpc.RpcMethodHandler] = _FACTORIES[
        (handler.request_streaming, handler.response_streaming)
    ]
    return factory(
        wrapper(inner, handler.response_streaming),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )

"""Per-client limits: a request rate (token bucket) and a cap on open Stylize calls.

A client is its certificate identity under mTLS, else its IP address (the
shared bearer token does not tell clients apart). Only the calls that do work
are limited; Health, GetInfo and reflection always answer. Refusals are
:class:`LimitExceededError` subclasses with their own reasons (RATE_LIMITED,
CLIENT_CONCURRENCY) and retry delays, so server/status.py maps them like any other.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from stylize.engine.errors import LimitExceededError, RateLimitedError
from stylize.server import status
from stylize.server.interception import Behaviour, wrap_handler

RATE_LIMITED = (
    "/stylize.v1.StyleTransfer/Stylize",
    "/stylize.v1.StyleTransfer/PredictStyle",
    "/stylize.v1.StyleTransfer/AddStyle",
    "/stylize.v1.StyleTransfer/StylizeSequence",
)
CONCURRENCY_LIMITED = (
    "/stylize.v1.StyleTransfer/Stylize",
    "/stylize.v1.StyleTransfer/StylizeSequence",
)
# Longer waits are said in the message but not offered as RetryInfo / retry pushback.
MAX_RETRYABLE_WAIT = 10.0
_MAX_TRACKED = 4096  # clients remembered before full (idle) buckets are forgotten


class ClientBusyError(LimitExceededError):
    """The client already has ``--max-jobs-per-client`` Stylize calls open."""

    reason = "CLIENT_CONCURRENCY"
    retry_after = 1.0  # one of its calls may have finished by then


class _Bucket:
    def __init__(self, burst: int, now: float) -> None:
        self.tokens = float(burst)
        self.stamp = now


class ClientLimits:
    def __init__(
        self,
        rate: float,
        burst: int,
        max_open: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_open = max_open
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Spend one token of ``client``'s bucket, or raise RateLimitedError."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(client) or self._new_bucket(client, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = (1 - bucket.tokens) / self.rate
        error = RateLimitedError(
            f"rate limit: at most {self.rate:g} calls/s per client (burst {self.burst}, "
            f"daemon flag --rate-limit); retry in {math.ceil(wait * 10) / 10:.1f} s",
            retry_after=wait,
        )
        if wait > MAX_RETRYABLE_WAIT:
            # gRPC's retry policy would sleep that long, then time out without a word
            error.retry_after = None  # type: ignore[assignment]  # (the class says 1.0)
        raise error

    def _new_bucket(self, client: str, now: float) -> _Bucket:
        if len(self._buckets) >= _MAX_TRACKED:  # a full bucket is the same as a new one
            horizon = self.burst / self.rate
            for key in [k for k, b in self._buckets.items() if now - b.stamp >= horizon]:
                del self._buckets[key]
        bucket = self._buckets[client] = _Bucket(self.burst, now)
        return bucket

    def open_job(self, client: str) -> Callable[[], None]:
        """Count an open Stylize call of ``client``; returns its (idempotent) release."""
        if self.max_open <= 0:
            return lambda: None
        with self._lock:
            if self._open.get(client, 0) >= self.max_open:
                raise ClientBusyError(
                    f"this client already has {self.max_open} Stylize call(s) open (daemon "
                    "flag --max-jobs-per-client); retry when one of them has finished"
                )
            self._open[client] = self._open.get(client, 0) + 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._open[client] -= 1
                if not self._open[client]:
                    del self._open[client]

        return release


def client_identity(context: grpc.ServicerContext) -> str:
    """``cert:NAME`` for a verified client certificate, else ``ip:ADDRESS`` of the peer."""
    identities = context.peer_identities()
    if identities:
        return "cert:" + identities[0].decode(errors="replace")
    peer = context.peer()  # ipv4:127.0.0.1:5555, ipv6:[::1]:5555, unix:/path
    kind, _, rest = peer.partition(":")
    host = rest.rpartition(":")[0] if kind in ("ipv4", "ipv6") else rest
    return f"ip:{host or peer}"


class ClientLimitInterceptor(grpc.ServerInterceptor):
    def __init__(self, limits: ClientLimits) -> None:
        self._limits = limits

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method not in RATE_LIMITED:
            return handler
        limit_open = method in CONCURRENCY_LIMITED
        return wrap_handler(
            handler, lambda inner, streaming: self._limited(inner, streaming, limit_open)
        )

    def _limited(self, inner: Behaviour, streaming: bool, limit_open: bool) -> Behaviour:
        limits = self._limits

        def admit(context: grpc.ServicerContext) -> Callable[[], None]:
            client = client_identity(context)
            try:
                limits.take(client)
                release = limits.open_job(client) if limit_open else (lambda: None)
            except LimitExceededError as error:
                status.abort(context, error)  # raises
                raise
            context.add_callback(release)  # runs however the call ends
            return release

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            release = admit(context)
            try:
                return inner(request, context)
            finally:
                release()

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            release = admit(context)
            try:
                yield from inner(request, context)
            finally:
                release()

        return stream if streaming else unary

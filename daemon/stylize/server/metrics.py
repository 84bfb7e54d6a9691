"""Prometheus metrics of one daemon, served over HTTP on an opt-in port.

Each daemon has its own registry (several in one test process do not clash);
every name is listed, with its meaning, in README "Operations -> Metrics".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

from stylize.server.job_runner import JobRunner

log = logging.getLogger(__name__)

# Health probes answer in microseconds, a 60 MP image takes minutes.
LATENCY_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Calls the daemon turned away rather than failed: counted again by reason.
_CODE = grpc.StatusCode
REFUSAL_CODES = frozenset({_CODE.RESOURCE_EXHAUSTED, _CODE.UNAUTHENTICATED, _CODE.UNAVAILABLE})
CANCELLATION_CODES = frozenset({_CODE.CANCELLED, _CODE.DEADLINE_EXCEEDED})
# The method label of every call to a method the daemon does not serve. Labels come from
# a closed set (the served methods and this), so unauthenticated callers inventing
# method names cannot grow the registry: each new label is a new time series.
UNKNOWN_METHOD = "unknown"


class Metrics:
    def __init__(self, methods: Iterable[str] = ()) -> None:
        """``methods``: the served methods, "package.Service/Method"; others are "unknown"."""
        self._methods = frozenset(methods)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_resident_memory_bytes and friends
        self.requests = Counter(
            "stylize_requests",
            "RPCs finished, by method and gRPC status code (errors: code != OK)",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stylize_request_duration_seconds",
            "Time from receiving an RPC to its status, by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "stylize_refusals",
            "RPCs turned away (busy, limits, authentication, loading), by reason",
            ["reason"],
            registry=self.registry,
        )
        self.cancellations = Counter(
            "stylize_cancellations",
            "RPCs ended by the client: cancelled or past their deadline, by method",
            ["method"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "stylize_requests_in_flight",
            "RPCs being served now, by method",
            ["method"],
            registry=self.registry,
        )
        self.jobs_running = Gauge(
            "stylize_jobs_running", "Jobs computing now", registry=self.registry
        )
        self.jobs_queued = Gauge(
            "stylize_jobs_queued", "Jobs admitted and waiting for a slot", registry=self.registry
        )
        self.model_load = Gauge(
            "stylize_model_load_seconds",
            "Time to load and warm the networks at start-up",
            registry=self.registry,
        )
        self._http: WSGIServer | None = None

    def watch_jobs(self, runner: JobRunner, max_running: int) -> None:
        """Read running and queued jobs from the runner at each scrape."""
        self.jobs_running.set_function(lambda: min(runner.admitted, max_running))
        self.jobs_queued.set_function(lambda: max(runner.admitted - max_running, 0))

    def method_label(self, method: str) -> str:
        """``method`` if the daemon serves it, else ``UNKNOWN_METHOD``."""
        return method if method in self._methods else UNKNOWN_METHOD

    def started(self, method: str) -> None:
        self.in_flight.labels(self.method_label(method)).inc()

    def record(
        self, method: str, code: grpc.StatusCode, seconds: float, reason: str | None
    ) -> None:
        """One RPC finished: count it, time it, and say whether it was refused or cancelled."""
        method = self.method_label(method)
        self.in_flight.labels(method).dec()
        self.requests.labels(method, code.name).inc()
        self.latency.labels(method).observe(seconds)
        if code in CANCELLATION_CODES:
            self.cancellations.labels(method).inc()
        elif code in REFUSAL_CODES:
            self.refusals.labels(reason or code.name).inc()

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint (``/metrics``); returns the port it listens on."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        bound = int(self._http.server_port)
        log.info("metrics address=%s:%d path=/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

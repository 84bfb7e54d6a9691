"""Build, start and stop the gRPC daemon: health, reflection, limits, auth, signals."""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from stylize.engine.images import ImageLimits
from stylize.engine.memory_budget import MemoryBudget
from stylize.engine.style_cache import StyleVectorCache
from stylize.jobs import StyleResolver
from stylize.server.auth import TokenAuthInterceptor
from stylize.server.config import ServerConfig
from stylize.server.job_runner import JobRunner
from stylize.server.service import StyleTransferService
from stylize.style_library import StyleLibrary
from stylize.v1 import stylize_pb2, stylize_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = stylize_pb2.DESCRIPTOR.services_by_name["StyleTransfer"].full_name
_EXTRA_RPC_THREADS = 8  # health, info and turned-away calls while every stream slot is held


class Daemon:
    """A started daemon: NOT_SERVING while models load, SERVING once warm."""

    def __init__(self, config: ServerConfig, library: StyleLibrary | None = None) -> None:
        config.check()
        self.config = config
        self.library = library or StyleLibrary()
        self.runner = JobRunner(config.max_concurrent_jobs, config.max_queued_jobs)
        self.budget = MemoryBudget(config.memory_budget_bytes)
        self.service = StyleTransferService(config, self.runner, self.budget)
        self.health = health.HealthServicer()
        self.server = self._build_server()
        self.port = self._bind()
        self._stopped = threading.Event()

    def _build_server(self) -> grpc.Server:
        # No maximum_concurrent_rpcs: the service bounds its own streams (with structured
        # refusals), and the pool keeps threads beyond them for Health and GetInfo.
        workers = self.config.max_streams + _EXTRA_RPC_THREADS
        interceptors = [TokenAuthInterceptor(self.config.token)] if self.config.token else []
        server = grpc.server(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stylize-rpc"),
            options=self.config.grpc_options(),
            interceptors=interceptors,
        )
        stylize_pb2_grpc.add_StyleTransferServicer_to_server(self.service, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        return server

    def _bind(self) -> int:
        address = self.config.address
        credentials = None
        if self.config.tls_cert and self.config.tls_key:
            credentials = grpc.ssl_server_credentials(
                [(self.config.tls_key.read_bytes(), self.config.tls_cert.read_bytes())]
            )
        try:
            if credentials is not None:
                port = self.server.add_secure_port(address, credentials)
            else:
                port = self.server.add_insecure_port(address)
        except RuntimeError:  # grpcio raises instead of returning 0 in recent versions
            port = 0
        if port == 0:
            raise OSError(f"cannot listen on {address} (address in use or not available)")
        return port

    def start(self) -> None:
        self.server.start()
        log.info(
            "listening address=%s:%d tls=%s auth=%s",
            self.config.host,
            self.port,
            bool(self.config.tls_cert),
            bool(self.config.token),
        )

    def load_models(self) -> None:
        """Load and warm the networks, then report SERVING."""
        from stylize.engine.style_engine import StyleEngine  # TensorFlow import: seconds

        started = time.perf_counter()
        engine = StyleEngine(budget=self.budget)
        engine.warm_up()
        cache = StyleVectorCache(self.config.style_cache_entries)
        self.service.set_ready(StyleResolver(engine, self.library, cache, self.config.image_limits))
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving device=%s ready_in=%.2fs", engine.device, time.perf_counter() - started)

    def stop(self, grace: float | None = None) -> None:
        """Drain: refuse new jobs (NOT_READY), let admitted ones finish for up to ``grace`` s."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.shutdown_grace if grace is None else grace
        started = time.monotonic()
        log.info("shutting down grace=%.1fs jobs=%d", grace, self.runner.admitted)
        self.health.enter_graceful_shutdown()
        drained = self.runner.drain(grace)
        left = max(0.0, grace - (time.monotonic() - started))
        if not drained:
            log.warning("grace period over; cancelling jobs=%d", self.runner.admitted)
        self.server.stop(min(left, 1.0) if drained else 0).wait()
        self.runner.shutdown()
        log.info("stopped drained=%s after=%.1fs", drained, time.monotonic() - started)


def serve(config: ServerConfig) -> int:
    """Run the daemon in the foreground until SIGTERM or SIGINT, then stop it cleanly."""
    daemon = Daemon(config)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received signal=%s", signal.Signals(signum).name)
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    daemon.load_models()
    stop_requested.wait()
    daemon.stop()
    return 0


__all__ = ["Daemon", "ImageLimits", "ServerConfig", "serve"]

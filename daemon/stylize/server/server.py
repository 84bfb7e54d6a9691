"""Build, start and stop the gRPC daemon: health, reflection, limits, auth, signals."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NoReturn

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from stylize.engine.images import ImageLimits
from stylize.engine.memory_budget import MemoryBudget
from stylize.engine.style_cache import StyleVectorCache
from stylize.jobs.methods import registered_methods
from stylize.jobs.resources import Engines
from stylize.jobs.style_library import StyleLibrary
from stylize.server import wire
from stylize.server.auth import TokenAuthInterceptor
from stylize.server.config import ServerConfig, is_loopback
from stylize.server.job_runner import JobRunner
from stylize.server.limits import ClientLimitInterceptor, ClientLimits
from stylize.server.metrics import Metrics
from stylize.server.observe import ObservabilityInterceptor
from stylize.server.service import StyleTransferService
from stylize.v1 import stylize_pb2

if TYPE_CHECKING:
    from stylize.engine.style_engine import StyleEngine

log = logging.getLogger(__name__)

SERVICE_NAME = stylize_pb2.DESCRIPTOR.services_by_name["StyleTransfer"].full_name
# Quiet before the background warm-up's first step, and before each later one.
WARM_UP_QUIET_SECONDS = (0.5, 0.1)
_EXTRA_RPC_THREADS = 8  # health, info and turned-away calls while every stream slot is held
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"


def served_methods() -> list[str]:
    """Every "package.Service/Method" this daemon serves (metrics label only these)."""
    services = (
        stylize_pb2.DESCRIPTOR.services_by_name["StyleTransfer"],
        health_pb2.DESCRIPTOR.services_by_name["Health"],
        reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"],
    )
    methods = [f"{s.full_name}/{m.name}" for s in services for m in s.methods]
    return [*methods, f"{REFLECTION_V1}/ServerReflectionInfo"]


def _style_transfer_handler(service: StyleTransferService) -> grpc.GenericRpcHandler:
    """The service's methods, as the generated stubs register them but with deserializers
    that never raise (``wire.tolerant``): undecodable bytes get INVALID_ARGUMENT."""
    pb = stylize_pb2
    handlers = {
        "Stylize": grpc.stream_stream_rpc_method_handler(
            service.Stylize,
            request_deserializer=wire.tolerant(pb.StylizeRequest),
            response_serializer=pb.StylizeEvent.SerializeToString,
        ),
        "PredictStyle": grpc.unary_unary_rpc_method_handler(
            service.PredictStyle,
            request_deserializer=wire.tolerant(pb.PredictStyleRequest),
            response_serializer=pb.PredictStyleResponse.SerializeToString,
        ),
        "GetInfo": grpc.unary_unary_rpc_method_handler(
            service.GetInfo,
            request_deserializer=wire.tolerant(pb.GetInfoRequest),
            response_serializer=pb.GetInfoResponse.SerializeToString,
        ),
        "ListStyles": grpc.unary_unary_rpc_method_handler(
            service.ListStyles,
            request_deserializer=wire.tolerant(pb.ListStylesRequest),
            response_serializer=pb.ListStylesResponse.SerializeToString,
        ),
        "StylizeSequence": grpc.stream_stream_rpc_method_handler(
            service.StylizeSequence,
            request_deserializer=wire.tolerant(pb.StylizeSequenceRequest),
            response_serializer=pb.StylizeSequenceEvent.SerializeToString,
        ),
        "AddStyle": grpc.unary_unary_rpc_method_handler(
            service.AddStyle,
            request_deserializer=wire.tolerant(pb.AddStyleRequest),
            response_serializer=pb.AddStyleResponse.SerializeToString,
        ),
    }
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


class Daemon:
    """A started daemon: NOT_SERVING while models load, SERVING once warm."""

    def __init__(self, config: ServerConfig, library: StyleLibrary | None = None) -> None:
        config.check()
        self.config = config
        self.library = library or StyleLibrary()
        self.runner = JobRunner(config.max_concurrent_jobs, config.max_queued_jobs)
        self.optimize_runner = JobRunner(
            config.max_optimize_jobs, config.max_queued_optimize_jobs, "stylize-optimize"
        )
        self.budget = MemoryBudget(config.memory_budget_bytes, "--memory-budget-mb")
        self.service = StyleTransferService(config, self.runner, self.budget, self.optimize_runner)
        self.health = health.HealthServicer()
        self.metrics = Metrics(served_methods())
        self.metrics.watch_jobs(self.runner, config.max_concurrent_jobs)
        self.server = self._build_server()
        self.port = self._bind()
        self.metrics_port: int | None = None
        self.health_server, self.health_port = self._health_only_server()
        self._stopped = threading.Event()
        self._engine: StyleEngine | None = None
        self._warm_up: threading.Thread | None = None
        self._warm_up_steps = 0

    @property
    def insecure(self) -> bool:
        """Serving beyond loopback without TLS, as --insecure allowed."""
        return not self.config.is_loopback and not self.config.tls

    def _interceptors(self) -> list[grpc.ServerInterceptor]:
        """Outermost first: every call is observed, then authenticated, then limited."""
        config = self.config
        interceptors: list[grpc.ServerInterceptor] = [
            ObservabilityInterceptor(self.metrics, insecure_notice=self.insecure)
        ]
        if config.token:
            interceptors.append(TokenAuthInterceptor(config.token))
        if config.rate_limit > 0 or config.max_jobs_per_client > 0:
            limits = ClientLimits(config.rate_limit, config.rate_burst, config.max_jobs_per_client)
            interceptors.append(ClientLimitInterceptor(limits))
        return interceptors

    def _build_server(self) -> grpc.Server:
        # No maximum_concurrent_rpcs: the service bounds its own streams (with structured
        # refusals), and the pool keeps threads beyond them for Health and GetInfo.
        workers = self.config.max_streams + _EXTRA_RPC_THREADS
        server = grpc.server(
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stylize-rpc"),
            options=self.config.grpc_options(),
            interceptors=self._interceptors(),
        )
        server.add_generic_rpc_handlers((_style_transfer_handler(self.service),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        _add_reflection(server)
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        return server

    def _bind(self) -> int:
        address = self.config.address
        credentials = _server_credentials(self.config)
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

    def _health_only_server(self) -> tuple[grpc.Server | None, int | None]:
        """Health alone on a plaintext port: probes get no TLS and no token, and need neither."""
        if self.config.health_port is None:
            return None, None
        server = grpc.server(ThreadPoolExecutor(max_workers=4, thread_name_prefix="stylize-health"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        port = server.add_insecure_port(f"{host}:{self.config.health_port}")
        if port == 0:
            raise OSError(f"cannot listen on {host}:{self.config.health_port} for health probes")
        return server, port

    def start(self) -> None:
        config = self.config
        if config.metrics_port is not None:
            self.metrics_port = self.metrics.serve(config.metrics_host, config.metrics_port)
            if not is_loopback(config.metrics_host):
                log.warning("metrics on %s have no authentication", config.metrics_host)
        self.server.start()
        if self.health_server is not None:
            self.health_server.start()
            log.info("health probes address=%s:%d", self.config.host, self.health_port)
        log.info(
            "listening address=%s:%d tls=%s mtls=%s auth=%s",
            config.host,
            self.port,
            config.tls,
            config.tls_client_ca is not None,
            bool(config.token),
        )
        log.info(
            "memory budget=%.2fGiB source=%s", self.budget.capacity / 2**30, self.budget.source
        )
        if self.insecure:
            log.warning(_INSECURE_WARNING, config.host)

    def load_models(self) -> None:
        """Load the networks and warm what most requests need, then report SERVING; the
        rest warms in the background (``StyleEngine.warm_up_rest``: a request that needs
        a part of it waits for that part only)."""
        from stylize.engine.style_engine import StyleEngine

        started = time.perf_counter()
        engine = StyleEngine(budget=self.budget)
        engine.warm_up_common()
        cache = StyleVectorCache(self.config.style_cache_entries)
        engines = Engines(
            engine, self.library, cache, self.config.image_limits, registered_methods()
        )
        self.service.set_ready(engines)
        for name in ("", SERVICE_NAME):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        ready_in = time.perf_counter() - started
        self.metrics.model_load.set(ready_in)
        log.log(
            logging.WARNING if self.insecure else logging.INFO,
            "serving device=%s ready_in=%.2fs%s",
            engine.device,
            ready_in,
            " transport=insecure (--insecure, no TLS)" if self.insecure else "",
        )
        self._engine = engine
        self._warm_up = threading.Thread(
            target=_warm_up_rest,
            args=(engine, self._quiet_moment),
            name="stylize-warm-up",
            daemon=True,
        )
        self._warm_up.start()

    def _quiet_moment(self) -> bool:
        """Before each step of the background warm-up: wait until no request has been in
        the daemon for a moment (requests go first: one sent at SERVING, or while the
        warm-up runs, meets at most the step in progress); False once stopping."""
        quiet = WARM_UP_QUIET_SECONDS[0 if self._warm_up_steps == 0 else 1]
        self._warm_up_steps += 1
        quiet_since = time.monotonic()
        while not self._stopped.is_set():
            if self.runner.admitted or self.optimize_runner.admitted:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet:
                return True
            self._stopped.wait(0.02)
        return False

    def stop(self, grace: float | None = None) -> None:
        """Drain: refuse new jobs (NOT_READY), let admitted ones finish for up to ``grace`` s."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.config.shutdown_grace if grace is None else grace
        started = time.monotonic()
        runners = (self.runner, self.optimize_runner)
        jobs = sum(runner.admitted for runner in runners)
        log.info("shutting down grace=%.1fs jobs=%d", grace, jobs)
        self.health.enter_graceful_shutdown()
        for runner in runners:
            runner.drain(0)  # both admit nothing more from now on
        self.service.finish_all()  # optimisations end now with their best picture so far
        drained = all(
            [runner.drain(max(0.0, grace - (time.monotonic() - started))) for runner in runners]
        )
        left = max(0.0, grace - (time.monotonic() - started))
        if not drained:
            jobs = sum(runner.admitted for runner in runners)
            log.warning("grace period over; cancelling jobs=%d", jobs)
        self.server.stop(min(left, 1.0) if drained else 0).wait()
        if self.health_server is not None:
            self.health_server.stop(None)
        for runner in runners:
            runner.shutdown()
        if self._engine is not None:  # no native work in other threads while Python exits
            self._engine.idle.close()
        if self._warm_up is not None:
            self._warm_up.join()  # ends after its current step
        self.metrics.close()
        log.info("stopped drained=%s after=%.1fs", drained, time.monotonic() - started)


def _warm_up_rest(engine: StyleEngine, pause: Callable[[], bool]) -> None:
    """In the background, between requests (one that needs a part waits for that part only)."""
    try:
        engine.warm_up_rest(pause=lambda: engine.idle.wait_idle() and pause())
    except Exception:  # a request that needs the part that failed reports it
        log.exception("background warm-up failed")
    with engine.idle.job():  # what the warm-up left free goes back once idle
        pass


_INSECURE_WARNING = (
    "INSECURE: listening on %s without TLS (--insecure): the token and every image cross "
    "the network in clear text; use --tls-cert/--tls-key unless this network is trusted"
)


def _server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS from the certificate and key; with a client CA, client certificates are required."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    client_ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _describe_reflection_v1() -> None:
    """Put ``grpc/reflection/v1/reflection.proto`` in the default descriptor pool, so
    reflection can list and describe v1 itself: v1alpha's file under v1's package."""
    pool = descriptor_pool.Default()
    name = "grpc/reflection/v1/reflection.proto"
    try:
        pool.FindFileByName(name)
        return  # registered already (an earlier daemon in this process, or a newer library)
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = file.package, REFLECTION_V1.rsplit(".", 1)[0]
    file.name, file.package = name, new
    file.options.Clear()
    for message in file.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # messages and enums; scalars have none
                field.type_name = field.type_name.replace(f".{old}.", f".{new}.")
    for service in file.service:
        for method in service.method:
            method.input_type = method.input_type.replace(f".{old}.", f".{new}.")
            method.output_type = method.output_type.replace(f".{old}.", f".{new}.")
    pool.Add(file)


def _add_reflection(server: grpc.Server) -> None:
    """Reflection v1alpha, and v1 with the same servicer.

    grpcio-reflection ships only v1alpha; v1 is the same protocol, message for
    message, under a new package name, so v1alpha's (de)serialisers read and
    write v1's bytes.
    """
    _describe_reflection_v1()
    names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": v1}),)
    )


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
    _exit_at_once(0)


def _exit_at_once(code: int) -> NoReturn:
    """End the process now, without the interpreter's finalisation.

    ``Daemon.stop`` has done what matters, in order: jobs drained, results delivered,
    the servers stopped. What finalisation would add is C++ static destructors running
    while native threads of TensorFlow, OpenVINO (TBB) and grpc may still exist; a
    ``std::thread`` destroyed while joinable calls ``std::terminate`` ("terminate called
    without an active exception", SIGABRT, exit -6): about one SIGTERM in ten with a job
    in flight. So: flush the logs and leave with ``os._exit``.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


__all__ = ["Daemon", "ImageLimits", "ServerConfig", "serve"]

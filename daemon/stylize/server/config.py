"""Daemon settings: every bound the daemon enforces, with its default."""

from __future__ import annotations

import ipaddress
import math
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from stylize.engine.images import ImageLimits
from stylize.tokens import required_token

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
MIB = 1 << 20
_ARRIVING_STREAMS = 4  # streams that may be sending their setup beyond the job places


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    max_message_bytes: int = 64 * MIB  # any single gRPC message, both directions
    max_encoded_bytes: int = 256 * MIB  # a whole encoded content file, across chunks
    chunk_bytes: int = 1 * MIB  # result chunks the daemon sends
    max_concurrent_jobs: int = 1  # TensorFlow already uses every core for one job
    max_queued_jobs: int = 8
    # Optimisations (minutes each) have their own slots, so fast jobs never queue behind
    # them; between iterations an optimisation waits while a fast job runs.
    max_optimize_jobs: int = 1
    max_queued_optimize_jobs: int = 2
    max_styles: int = 16
    style_cache_entries: int = 256
    token: str | None = None  # required when listening beyond loopback
    tls_cert: Path | None = None  # TLS is required beyond loopback unless `insecure`
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # set: clients must present a certificate it signed (mTLS)
    insecure: bool = False  # beyond loopback without TLS: explicit, and loudly logged
    rate_limit: float = 0.0  # Stylize/PredictStyle calls per second per client; 0: no limit
    rate_burst: int = 10  # calls a client may make at once before the rate applies
    max_jobs_per_client: int = 0  # Stylize calls one client may have open; 0: no limit
    metrics_host: str = DEFAULT_HOST
    metrics_port: int | None = None  # Prometheus endpoint; None: off, 0: a free port
    # A second, plaintext port serving only grpc.health.v1, for probes that cannot
    # speak TLS or send a token (Kubernetes `grpc:` probes). None: no such port.
    health_port: int | None = None
    # A stream that sends nothing for this long (before setup, between chunks) is ended
    # with DEADLINE_EXCEEDED / UPLOAD_TIMEOUT, so idle clients cannot hold the daemon.
    receive_timeout: float = 30.0
    shutdown_grace: float = 30.0  # SIGTERM: seconds running jobs get to finish
    memory_budget_bytes: int | None = None  # None: what the machine / cgroup has free at start
    # Connections: keepalive enforcement and recycling (gRPC channel arguments).
    max_connection_idle: float = 300.0
    max_connection_age: float = 3600.0
    max_connection_age_grace: float = 900.0  # a job in flight may finish after max age
    max_streams_per_connection: int = 32

    def __post_init__(self) -> None:
        # the token without the whitespace around it; a blank one raises ValueError
        object.__setattr__(self, "token", required_token(self.token, "the daemon's settings"))

    @property
    def max_streams(self) -> int:
        """Stylize/PredictStyle calls handled at once (admitted jobs + a few arriving)."""
        return (
            self.max_concurrent_jobs
            + self.max_queued_jobs
            + self.max_optimize_jobs
            + self.max_queued_optimize_jobs
            + _ARRIVING_STREAMS
        )

    def grpc_options(self) -> list[tuple[str, int]]:
        """Server channel arguments: message sizes, keepalive enforcement, connection ages."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.so_reuseport", 0),
            ("grpc.max_concurrent_streams", self.max_streams_per_connection),
            ("grpc.keepalive_time_ms", 60_000),  # ping an idle client to find dead peers
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 2),  # then GOAWAY a client that pings too often
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.max_connection_idle_ms", int(self.max_connection_idle * 1000)),
            ("grpc.max_connection_age_ms", int(self.max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(self.max_connection_age_grace * 1000)),
        ]

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self) -> None:
        """Refuse settings that would expose the daemon without authentication or encryption."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key must be given together")
        if self.tls_client_ca is not None and not self.tls:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key (mTLS adds to TLS)")
        if not self.is_loopback and not self.token:
            raise ValueError(
                f"listening on {self.host} exposes the daemon beyond this machine; "
                "set a token (--token-file FILE or STYLIZE_TOKEN) so clients must authenticate"
            )
        if not self.is_loopback and not self.tls and not self.insecure:
            raise ValueError(
                f"listening on {self.host} without TLS sends the token and images in clear "
                "text; give --tls-cert and --tls-key (and --tls-client-ca for client "
                "certificates), or pass --insecure on a network you trust"
            )
        if not (math.isfinite(self.rate_limit) and self.rate_limit >= 0):  # NaN: no limit
            raise ValueError(f"--rate-limit must be a number >= 0, not {self.rate_limit}")
        if self.rate_burst < 1 or self.max_jobs_per_client < 0:
            raise ValueError("--max-jobs-per-client must be >= 0 and --rate-burst >= 1")
        if self.memory_budget_bytes is not None and self.memory_budget_bytes <= 0:
            raise ValueError(
                "--memory-budget-mb must be > 0 (or left out: what the machine or container "
                "has free at start)"
            )
        if self.max_message_bytes < MIB:  # result chunks (chunk_bytes) must fit a message
            raise ValueError(f"--max-message-mb must be >= 1, not {self.max_message_bytes / MIB:g}")
        if self.chunk_bytes < 1 or self.chunk_bytes > self.max_message_bytes:
            raise ValueError("the result chunk size must be between 1 byte and the message size")
        if self.max_concurrent_jobs < 1 or self.max_queued_jobs < 0:
            raise ValueError("--max-jobs must be >= 1 and --max-queue >= 0")
        if self.max_optimize_jobs < 0 or self.max_queued_optimize_jobs < 0:
            raise ValueError("--max-optimize-jobs and --max-optimize-queue must be >= 0")
        if not self.receive_timeout > 0 or not self.shutdown_grace >= 0:
            raise ValueError("--receive-timeout must be > 0 and --shutdown-grace >= 0")
        if not (math.isfinite(self.receive_timeout) and math.isfinite(self.shutdown_grace)):
            raise ValueError("--receive-timeout and --shutdown-grace must be finite")
        self._check_tls_files()

    def _check_tls_files(self) -> None:
        """TLS material that the daemon can use, or an error naming the file (grpc would
        only fail to bind, which read as "address in use")."""
        if self.tls_cert is not None and self.tls_key is not None:
            for flag, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
                _check_readable(flag, path)
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.tls_cert, self.tls_key)
            except ssl.SSLError as error:
                raise ValueError(
                    f"--tls-cert {self.tls_cert} and --tls-key {self.tls_key} are not a PEM "
                    f"certificate (chain) and its private key ({error.reason or error})"
                ) from None
        if self.tls_client_ca is not None:
            _check_readable("--tls-client-ca", self.tls_client_ca)
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(self.tls_client_ca)
            except ssl.SSLError as error:
                raise ValueError(
                    f"--tls-client-ca {self.tls_client_ca} holds no PEM CA certificate "
                    f"({error.reason or error})"
                ) from None


def _check_readable(flag: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {path}: {error.strerror or error}") from None

"""Daemon settings: every bound the daemon enforces, with its default."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from stylize.engine.images import ImageLimits

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
MIB = 1 << 20


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
    max_styles: int = 16
    style_cache_entries: int = 256
    token: str | None = None  # required when listening beyond loopback
    tls_cert: Path | None = None
    tls_key: Path | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check(self) -> None:
        """Refuse settings that would expose the daemon without authentication."""
        if not self.is_loopback and not self.token:
            raise ValueError(
                f"listening on {self.host} exposes the daemon beyond this machine; "
                "set a token (--token-file FILE or STYLIZE_TOKEN) so clients must authenticate"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("--tls-cert and --tls-key must be given together")
        if self.max_concurrent_jobs < 1 or self.max_queued_jobs < 0:
            raise ValueError("--max-jobs must be >= 1 and --max-queue >= 0")

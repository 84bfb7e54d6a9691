"""How many Stylize/PredictStyle handlers run at once: beyond the limit, BUSY (retryable)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from stylize.engine.errors import BusyError


class StreamSlots:
    """Counts Stylize/PredictStyle handlers, refusing beyond ``limit`` (BUSY, retryable).

    Streams are bounded here, not with grpcio's ``maximum_concurrent_rpcs``, so Health
    and GetInfo always find a free server thread and every refusal carries details.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._count = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._count >= self._limit:
                raise BusyError(
                    f"the daemon is busy ({self._limit} requests in progress); try again shortly"
                )
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

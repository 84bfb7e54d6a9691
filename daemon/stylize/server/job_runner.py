"""Bounded job execution: a few jobs run, a few wait, the rest are turned away."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from stylize.engine.errors import LimitExceededError

T = TypeVar("T")


class JobRunner:
    def __init__(self, max_running: int, max_queued: int) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max_running, thread_name_prefix="stylize-job"
        )
        self._capacity = max_running + max_queued
        self._max_running = max_running
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    def submit(self, work: Callable[[], T]) -> tuple[Future[T], bool]:
        """Start or queue ``work``; returns its future and whether it had to queue."""
        with self._lock:
            if self._admitted >= self._capacity:
                raise LimitExceededError(
                    f"the daemon is busy ({self._max_running} job(s) running, "
                    f"{self._capacity - self._max_running} queued); try again shortly"
                )
            queued = self._admitted >= self._max_running
            self._admitted += 1
        future = self._executor.submit(work)
        future.add_done_callback(self._release)
        return future, queued

    def _release(self, _: Future) -> None:
        with self._lock:
            self._admitted -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

"""Bounded job execution: a few jobs run, a few wait, the rest are turned away.

A request is *admitted* (given a :class:`Ticket`) as soon as its setup is valid,
before its upload is read, so a busy daemon says so without taking the bytes;
the ticket then runs the job, or is given back if the request ends first.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from stylize.engine.errors import BusyError, NotReadyError

T = TypeVar("T")


class Ticket:
    """One admitted request's place: running or queued. Released exactly once."""

    def __init__(self, runner: JobRunner, queued: bool) -> None:
        self._runner = runner
        self.queued = queued
        self._released = False
        self._lock = threading.Lock()

    def run(self, work: Callable[[], T]) -> Future[T]:
        """Start or queue ``work``; the ticket is released when it ends."""
        # The job thread logs with the caller's request id (stylize.request_id).
        future = self._runner._executor.submit(
            contextvars.copy_context().run, self._runner._executing, work
        )
        future.add_done_callback(lambda _: self.release())
        return future

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._runner._release()


class JobRunner:
    def __init__(self, max_running: int, max_queued: int, name: str = "stylize-job") -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, max_running), thread_name_prefix=name
        )
        self._capacity = max_running + max_queued
        self._max_running = max_running
        self._admitted = 0
        self._busy = 0  # jobs executing now (admitted ones may still be uploading)
        self._draining = False
        self._idle = threading.Condition()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def running(self) -> int:
        return min(self._admitted, self._max_running)

    @property
    def queued(self) -> int:
        return max(0, self._admitted - self._max_running)

    def _executing(self, work: Callable[[], T]) -> T:
        with self._idle:
            self._busy += 1
        try:
            return work()
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def wait_while_busy(self, stop: Callable[[], bool], poll: float = 0.05) -> None:
        """Block while any job of this runner executes, or until ``stop()`` is true."""
        with self._idle:
            while self._busy and not stop():
                self._idle.wait(poll)

    def admit(self) -> Ticket:
        """A place for one more job, or BusyError (retryable) when every place is taken."""
        with self._idle:
            if self._draining:
                raise NotReadyError("the daemon is shutting down; try again in a moment")
            if self._admitted >= self._capacity:
                raise BusyError(
                    f"the daemon is busy ({self._max_running} job(s) running, "
                    f"{self._capacity - self._max_running} queued); try again shortly"
                )
            queued = self._admitted >= self._max_running
            self._admitted += 1
        return Ticket(self, queued)

    def submit(self, work: Callable[[], T]) -> tuple[Future[T], bool]:
        """Admit and start or queue ``work``; returns its future and whether it had to queue."""
        ticket = self.admit()
        return ticket.run(work), ticket.queued

    def _release(self) -> None:
        with self._idle:
            self._admitted -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Admit nothing more; wait up to ``timeout`` s for admitted jobs. True if all ended."""
        with self._idle:
            self._draining = True
            return self._idle.wait_for(lambda: self._admitted == 0, timeout=timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

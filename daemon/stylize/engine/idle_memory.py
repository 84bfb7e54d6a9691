"""Memory back to the operating system once the engine has been idle a few seconds.

A large job leaves memory behind that no one will use while the daemon waits: the
whole-image graphs' intermediate tensors (OpenVINO keeps those of the largest image a
graph ran: about 3 GB after a 6000 x 4000 image), the strip arena kept for a next large
job (``strip_inference.SPARE``), and freed heap that glibc keeps (the daemon sets a
256 MiB trim threshold, ``server/malloc_tuning.py``, and free chunks below live ones
are never returned without ``malloc_trim``). A batch of jobs keeps all of it from one
job to the next; :class:`IdleRelease` gives it back ``delay`` seconds after the last
job ended, unless another one has started.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

IDLE_RELEASE_SECONDS = 3.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim  # glibc only
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def trim_heap() -> bool:
    """Return the heap's free pages to the OS (glibc's ``malloc_trim(0)``); False elsewhere."""
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))


class IdleRelease:
    """Calls ``release`` once no job has run for ``delay`` seconds after the last one."""

    def __init__(self, release: Callable[[], None], delay: float = IDLE_RELEASE_SECONDS) -> None:
        self._release = release
        self.delay = delay
        self._lock = threading.Condition()
        self._active = 0
        self._timer: threading.Timer | None = None
        self._closed = False
        self._releasing = threading.Lock()  # held while ``release`` runs
        _INSTANCES.add(self)

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        """Around one job: no release while any runs; the countdown starts when the last ends."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    def begin(self) -> None:
        """A job starts (:meth:`job`'s first half, for holders that are not a block)."""
        with self._lock:
            self._active += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def end(self) -> None:
        """A job that :meth:`begin` counted ended."""
        with self._lock:
            self._active -= 1
            self._lock.notify_all()
            if not self._active and not self._closed:
                self._timer = threading.Timer(self.delay, self._when_idle)
                self._timer.name = "stylize-idle-release"
                self._timer.daemon = True
                self._timer.start()

    def wait_idle(self) -> bool:
        """Block while any job runs (background work that must not slow jobs down);
        False once closed (that work should stop)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._active or self._closed)
            return not self._closed

    def close(self) -> None:
        """No more releases (the process is ending): cancel the countdown, wait for a
        release in progress (native code must not run while the interpreter exits)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        with self._releasing:
            pass

    def _when_idle(self) -> None:
        with self._lock:
            if self._active or self._timer is not threading.current_thread():
                return  # a job started since (and cancelled this timer too late)
            self._timer = None
        try:
            with self._releasing:
                if not self._closed:
                    self._release()
        except Exception:  # never into a timer thread's traceback: the next idle retries
            log.exception("releasing idle memory failed")


_INSTANCES: weakref.WeakSet[IdleRelease] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Before the interpreter exits (a CLI, a test run): no release may be half done."""
    for idle in list(_INSTANCES):
        idle.close()

"""Memory reservations: refuse a job the daemon cannot hold instead of being OOM-killed.

Every large buffer a request needs (its upload, the decoded images, the network's
working set, the encoded result held for a slow reader) is *reserved* from one
:class:`MemoryBudget` before it is allocated, and released when the request ends.
The budget's capacity is what this process may use: the smallest of the host's
available memory and the headroom under the container's cgroup v1
``memory.limit_in_bytes`` and cgroup v2 ``memory.max``, measured at start (or set
explicitly); ``MemoryBudget.source`` names the limit it came from. A reservation
is refused when it would not fit beside the others (retryable:
``InsufficientMemoryError``) or could never fit (``TooLargeForMemoryError``, naming
the largest image that would).

The network's working set is peak bytes per pixel measured with
bench/large_images.py (process peak minus the idle process, rounded up): about
290 for the whole-image path with TensorFlow (137 with OpenVINO), 40 for the
layer-by-layer strip path (28 at 67 MP, where its fixed strip-sized scratch is
spread thin; 39 at 24 MP; 63 at 12 MP, where the scratch weighs more, so the
estimate is low for strips of small images, which run only when the budget cannot
hold the whole image).
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from stylize.engine.errors import InsufficientMemoryError, TooLargeForMemoryError
from stylize.engine.idle_memory import IdleRelease, trim_heap

WHOLE_BYTES_PER_PIXEL = 290
STRIP_BYTES_PER_PIXEL = 40
# 16-bit/float content: float32 RGB copies of the image around the network (its input,
# the network's float output, the conversion back). Measured with
# bench/large_images.py --depths u8 u16: +57..66 bytes a pixel on the whole-image path,
# +39..51 in strips (BENCHMARKS.md); rounded up.
DEEP_EXTRA_BYTES_PER_PIXEL = 72
_HEADROOM = 0.9  # leave a tenth of what is free to everything else
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as about 2**63


def _meminfo_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_dir(root: Path, proc_cgroup: Path) -> Path | None:
    """This process's cgroup v2 folder ("0::/path" in /proc/self/cgroup)."""
    try:
        for line in proc_cgroup.read_text().splitlines():
            if line.startswith("0::"):
                return root / line[3:].lstrip("/")
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class Limit:
    """Memory this process can still take under one limit, and which limit that is."""

    free: int  # bytes
    source: str  # e.g. "cgroup v1 memory.limit_in_bytes 3.00 GiB (/docker/abc)"


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _tightest(
    folder: Path, top: Path, limit_file: str, usage_file: str, label: str
) -> Limit | None:
    """The smallest limit - usage of ``folder`` and its parents up to ``top``."""
    tightest: Limit | None = None
    while True:
        limit = _read_int(folder / limit_file)  # "max" (v2 unlimited) reads as None
        if limit is not None and limit < _UNLIMITED:
            free = max(0, limit - (_read_int(folder / usage_file) or 0))
            if tightest is None or free < tightest.free:
                where = "/" + str(folder.relative_to(top)).lstrip(".")
                tightest = Limit(free, f"{label} {limit_file} {_gib(limit)} ({where})")
        if folder == top or top not in folder.parents:
            return tightest
        folder = folder.parent


def cgroup_v2_limit(
    root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> Limit | None:
    """memory.max - memory.current of this cgroup v2 and its parents (tightest); None if none."""
    folder = _cgroup_dir(root, proc_cgroup)
    if folder is None:
        return None
    return _tightest(folder, root, "memory.max", "memory.current", "cgroup v2")


def cgroup_v1_limit(
    root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> Limit | None:
    """memory.limit_in_bytes - memory.usage_in_bytes of this cgroup v1 memory controller
    and its parents (tightest); None if unlimited or not mounted.

    The controller is the "N:memory:/path" line of /proc/self/cgroup (or a list of
    controllers naming memory), mounted at ``root``/memory. Inside a container the path
    is the host's while the mount shows the container's own cgroup at the top: if the
    path does not exist there, the top is read.
    """
    top = root / "memory"
    path = None
    try:
        for line in proc_cgroup.read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and "memory" in parts[1].split(","):
                path = parts[2].lstrip("/")
    except OSError:
        return None
    if path is None or not top.is_dir():
        return None
    folder = top / path
    if not folder.is_dir():
        folder = top
    return _tightest(folder, top, "memory.limit_in_bytes", "memory.usage_in_bytes", "cgroup v1")


def cgroup_headroom(
    root: Path = _CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")
) -> int | None:
    """Bytes left under the tightest cgroup limit (v1 or v2); None if unlimited."""
    limits = [cgroup_v1_limit(root, proc_cgroup), cgroup_v2_limit(root, proc_cgroup)]
    frees = [limit.free for limit in limits if limit is not None]
    return min(frees) if frees else None


def tightest_limit(
    root: Path = _CGROUP_ROOT,
    proc_cgroup: Path = Path("/proc/self/cgroup"),
    meminfo: Path = Path("/proc/meminfo"),
) -> Limit | None:
    """The smallest of the host's MemAvailable and the cgroup v1 and v2 limits' headroom."""
    host = _meminfo_available(meminfo)
    limits = [
        Limit(host, "host MemAvailable") if host is not None else None,
        cgroup_v1_limit(root, proc_cgroup),
        cgroup_v2_limit(root, proc_cgroup),
    ]
    found = [limit for limit in limits if limit is not None]
    return min(found, key=lambda limit: limit.free) if found else None


def available_bytes() -> int | None:
    """Memory this process can still take: host MemAvailable, capped by the cgroup limits."""
    limit = tightest_limit()
    return limit.free if limit is not None else None


def network_bytes(width: int, height: int, strips: bool, deep: bool = False) -> int:
    """The transfer network's working set for a ``width`` x ``height`` image.

    ``deep`` (16-bit or float content): the image also has float32 RGB copies around
    the network (DEEP_EXTRA_BYTES_PER_PIXEL); the measured figures are for uint8.
    """
    per_pixel = STRIP_BYTES_PER_PIXEL if strips else WHOLE_BYTES_PER_PIXEL
    return width * height * (per_pixel + (DEEP_EXTRA_BYTES_PER_PIXEL if deep else 0))


class Reservation:
    """Bytes held in a budget until :meth:`release` (or the end of a ``with`` block)."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes
        budget.idle.begin()
        self._held = True

    def release(self) -> None:
        nbytes, self.nbytes = self.nbytes, 0
        if nbytes:
            self._budget._give_back(nbytes)
        if self._held:
            self._held = False
            self._budget.idle.end()

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class MemoryBudget:
    """A fixed capacity shared by all requests; thread-safe."""

    def __init__(self, capacity: int | None = None, source: str = "set explicitly") -> None:
        """``capacity`` in bytes; default: what the machine (or container) has free now.

        A measured budget also re-checks live free memory at each reservation, in case
        other processes took some since the daemon started. ``source`` says where the
        capacity came from (an explicit one: the caller's words, e.g. the option's name);
        a measured one names the tightest limit (:func:`tightest_limit`).
        """
        self._live = capacity is None
        if capacity is None:
            limit = tightest_limit()
            if limit is None:
                capacity, source = 1 << 62, "no limit found (no /proc/meminfo or cgroup)"
            else:
                capacity = int(limit.free * _HEADROOM)
                source = f"{limit.source}, {_gib(limit.free)} free at start, 90 % of it"
        self.capacity = capacity
        self.source = source
        self._reserved = 0
        self._lock = threading.Lock()
        self._idle_rss = process_rss()  # this process with nothing reserved (models included)
        # Whatever reserved memory (a thumbnail, a style's decode, an optimisation, an
        # upload) leaves freed heap behind: it goes back to the OS once nothing has been
        # reserved for a few seconds (the engine's own idle release also frees its caches).
        self.idle = IdleRelease(_trim)

    @property
    def reserved(self) -> int:
        return self._reserved

    def reserve(self, nbytes: int, what: str, bytes_per_pixel: int | None = None) -> Reservation:
        """Hold ``nbytes`` for ``what``, or refuse (retryable only if it could ever fit)."""
        nbytes = max(0, int(nbytes))
        with self._lock:
            if nbytes > self.capacity:
                raise TooLargeForMemoryError(self._never_fits(nbytes, what, bytes_per_pixel))
            if self._reserved + nbytes > self.capacity:
                raise InsufficientMemoryError(self._busy(nbytes, what))
            usable = self._live_usable()
            if usable is not None and nbytes > max(0, usable - self._not_yet_allocated()):
                raise InsufficientMemoryError(
                    f"{what} needs {_gib(nbytes)} of memory; {_gib(self.capacity - self._reserved)}"
                    f" of this daemon's {_gib(self.capacity)} budget is free, but the machine "
                    f"has only {_gib(usable)} available now (other processes hold the rest); "
                    "try again shortly"
                )
            self._reserved += nbytes
        return Reservation(self, nbytes)

    def _busy(self, nbytes: int, what: str) -> str:
        """The budget is held by jobs in flight: say how much they hold and how much is free."""
        free = max(0, self.capacity - self._reserved)
        return (
            f"{what} needs {_gib(nbytes)} of memory; {_gib(self._reserved)} of this daemon's "
            f"{_gib(self.capacity)} budget is held by jobs in flight and {_gib(free)} is free; "
            "try again when they end"
        )

    def _not_yet_allocated(self) -> int:
        """Of the bytes reserved, those their holders have not allocated yet (the process has
        grown by less than it reserved): the machine's free memory still counts them, so two
        jobs admitted together must not both be offered it. Measured against this process's
        size when nothing was reserved, which includes the models loaded since the start."""
        rss = process_rss()
        if self._reserved == 0 or rss is None or self._idle_rss is None:
            return 0
        return max(0, self._reserved - max(0, rss - self._idle_rss))

    def _live_usable(self) -> int | None:
        """What a measured budget may still take of the machine's free memory (None: no limit)."""
        if not self._live:
            return None
        free = available_bytes()
        return None if free is None else int(free * _HEADROOM)

    def _never_fits(self, nbytes: int, what: str, bytes_per_pixel: int | None) -> str:
        message = (
            f"{what} needs about {_gib(nbytes)} of memory; this daemon's budget is "
            f"{_gib(self.capacity)}"
        )
        if bytes_per_pixel:
            side = math.isqrt(self.capacity // bytes_per_pixel)
            message += (
                f" (the largest image that fits is about {side}x{side} pixels); scale it down "
                "(options.max_side, CLI --max-side)"
            )
        return message

    def _give_back(self, nbytes: int) -> None:
        with self._lock:
            self._reserved -= nbytes
            if self._reserved == 0 and self._live:  # idle: the new baseline of this process
                self._idle_rss = process_rss()


def _trim() -> None:
    trim_heap()


def process_rss() -> int | None:
    """This process's resident memory in bytes (None where /proc is missing)."""
    try:
        resident = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE")


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB"

"""A memory-limited child cgroup (v1 or v2) to run a daemon in, for the memory-safety test.

    with MemoryCgroup.create(3 << 30) as group:   # raises CgroupUnavailable with the reason
        start_daemon(log, wrapper=group.wrapper())  # the daemon joins it before exec
        ... group.oom_kills(), group.peak_bytes() ...

The child is made under this process's own memory cgroup (the "N:memory:/path" line of
/proc/self/cgroup for v1, "0::/path" for v2), so it works inside a container whose
cgroup is writable (root, or a delegated v2 subtree). ``wrapper()`` is a command prefix
(``sh -c 'echo $$ > cgroup.procs; exec "$@"'``): the daemon's process is in the group
from its first instruction, so its start-up already reads the limit
(stylize.engine.memory_budget).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupUnavailable(RuntimeError):
    """No memory cgroup can be made here; the message says why."""


def _own_path(controller_line: str | None) -> str | None:
    """This process's cgroup path for the v1 memory controller (or v2 with None)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if controller_line is None and number == "0" and controllers == "":
            return path.lstrip("/")
        if controller_line is not None and controller_line in controllers.split(","):
            return path.lstrip("/")
    return None


def _v1_parent() -> Path | None:
    top = CGROUP_ROOT / "memory"
    path = _own_path("memory")
    if path is None or not (top / "memory.limit_in_bytes").exists():
        return None
    parent = top / path
    return parent if parent.is_dir() else top  # in a container the mount shows our own group


def _v2_parent() -> tuple[Path | None, str]:
    for root in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (root / "cgroup.controllers").exists():
            path = _own_path(None)
            if path is None:
                return None, "no cgroup v2 line in /proc/self/cgroup"
            parent = root / path
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if "memory" not in enabled:
                return (
                    None,
                    f"cgroup v2 at {root}: memory is not in {parent}/cgroup.subtree_control",
                )
            return parent, ""
    return None, "no cgroup v2 mount"


@dataclass
class MemoryCgroup:
    path: Path
    version: int  # 1 or 2
    limit: int  # bytes

    @classmethod
    def create(cls, limit: int, name: str | None = None) -> MemoryCgroup:
        """A fresh child group limited to ``limit`` bytes (swap included where v1 allows)."""
        name = name or f"stylize-memtest-{os.getpid()}-{time.monotonic_ns()}"
        reasons = []
        parent = _v1_parent()
        if parent is not None:
            try:
                return cls._make(parent / name, 1, limit)
            except OSError as error:
                reasons.append(f"cgroup v1 at {parent}: {error}")
        else:
            reasons.append("no cgroup v1 memory controller")
        parent2, why = _v2_parent()
        if parent2 is not None:
            try:
                return cls._make(parent2 / name, 2, limit)
            except OSError as error:
                reasons.append(f"cgroup v2 at {parent2}: {error}")
        else:
            reasons.append(why)
        raise CgroupUnavailable("; ".join(reasons))

    @classmethod
    def _make(cls, path: Path, version: int, limit: int) -> MemoryCgroup:
        path.mkdir()
        group = cls(path, version, limit)
        try:
            if version == 1:
                (path / "memory.limit_in_bytes").write_text(str(limit))
                swap = path / "memory.memsw.limit_in_bytes"
                if swap.exists():  # no swap past the limit either
                    swap.write_text(str(limit))
            else:
                (path / "memory.max").write_text(str(limit))
                swap = path / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
        except OSError:
            group.remove()
            raise
        return group

    def wrapper(self) -> list[str]:
        """A command prefix that moves the process into this group, then execs the command."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > "{procs}" && exec "$@"', "sh"]

    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this group."""
        text = self._read("memory.oom_control" if self.version == 1 else "memory.events")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def limit_hits(self) -> int | None:
        """v1 ``memory.failcnt`` (charges that hit the limit: reclaim, not kills); v2 ``max``."""
        if self.version == 1:
            return int(self._read("memory.failcnt"))
        for line in self._read("memory.events").splitlines():
            key, _, value = line.partition(" ")
            if key == "max":
                return int(value)
        return None

    def usage_bytes(self) -> int:
        name = "memory.usage_in_bytes" if self.version == 1 else "memory.current"
        return int(self._read(name))

    def peak_bytes(self) -> int | None:
        """The group's peak charge (page cache included): v1 max_usage, v2 memory.peak."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int(self._read(name))
        except OSError:
            return None

    def remove(self, seconds: float = 10) -> None:
        """rmdir the group once its processes have gone (ignored if it cannot be removed)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.2)

    def __enter__(self) -> MemoryCgroup:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

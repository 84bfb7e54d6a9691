"""Where the memory budget's capacity comes from: cgroup v1, cgroup v2, the host (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stylize.engine import memory_budget
from stylize.engine.memory_budget import Limit, MemoryBudget

GIB = 1 << 30
V1_UNLIMITED = 9223372036854771712  # what cgroup v1 writes for "no limit"


def _v1(root: Path, path: str, limit: int, usage: int) -> None:
    folder = root / "memory" / path.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (folder / "memory.usage_in_bytes").write_text(f"{usage}\n")


def _v2(root: Path, path: str, limit: str, current: int) -> None:
    folder = root / path.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.current").write_text(f"{current}\n")


def _meminfo(tmp_path: Path, available: int) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available // 1024} kB\n")
    return path


def test_cgroup_v1_limit_is_read(tmp_path: Path) -> None:
    _v1(tmp_path, "/", V1_UNLIMITED, 5 * GIB)
    _v1(tmp_path, "/docker/abc", 3 * GIB, GIB)
    proc = tmp_path / "cgroup"
    proc.write_text("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    limit = memory_budget.cgroup_v1_limit(tmp_path, proc)
    assert limit is not None and limit.free == 2 * GIB
    assert limit.source == "cgroup v1 memory.limit_in_bytes 3.00 GiB (/docker/abc)"
    assert memory_budget.cgroup_headroom(tmp_path, proc) == 2 * GIB


def test_cgroup_v1_parent_limit_counts_and_unlimited_is_none(tmp_path: Path) -> None:
    _v1(tmp_path, "/", V1_UNLIMITED, 0)
    _v1(tmp_path, "/kubepods", 2 * GIB, GIB + GIB // 2)  # the pod's limit is tighter
    _v1(tmp_path, "/kubepods/app", 3 * GIB, GIB)
    proc = tmp_path / "cgroup"
    proc.write_text("7:memory:/kubepods/app\n")
    limit = memory_budget.cgroup_v1_limit(tmp_path, proc)
    assert limit is not None and limit.free == GIB // 2 and "(/kubepods)" in limit.source
    proc.write_text("7:memory:/\n")
    assert memory_budget.cgroup_v1_limit(tmp_path, proc) is None


def test_cgroup_v1_inside_a_container_reads_the_mount_top(tmp_path: Path) -> None:
    """The host's path in /proc/self/cgroup does not exist in the container's mount."""
    _v1(tmp_path, "/", 3 * GIB, GIB // 2)
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/docker/0123456789abcdef\n")
    limit = memory_budget.cgroup_v1_limit(tmp_path, proc)
    assert limit is not None and limit.free == 3 * GIB - GIB // 2


def test_no_cgroup_mounted_means_no_cgroup_limit(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/x\n0::/x\n")
    assert memory_budget.cgroup_v1_limit(tmp_path, proc) is None
    assert memory_budget.cgroup_v2_limit(tmp_path, proc) is None
    assert memory_budget.cgroup_v1_limit(tmp_path, tmp_path / "missing") is None


def test_the_tightest_of_host_v1_and_v2_wins_and_is_named(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/app\n0::/app\n")  # a hybrid host: both hierarchies
    _v1(tmp_path, "/app", 3 * GIB, GIB)  # 2 GiB free
    _v2(tmp_path, "/", "max", 0)
    _v2(tmp_path, "/app", str(4 * GIB), GIB)  # 3 GiB free
    limit = memory_budget.tightest_limit(tmp_path, proc, _meminfo(tmp_path, 8 * GIB))
    assert limit == Limit(2 * GIB, "cgroup v1 memory.limit_in_bytes 3.00 GiB (/app)")
    _v2(tmp_path, "/app", str(2 * GIB), GIB)  # 1 GiB free
    limit = memory_budget.tightest_limit(tmp_path, proc, _meminfo(tmp_path, 8 * GIB))
    assert limit == Limit(GIB, "cgroup v2 memory.max 2.00 GiB (/app)")
    limit = memory_budget.tightest_limit(tmp_path, proc, _meminfo(tmp_path, GIB // 2))
    assert limit == Limit(GIB // 2, "host MemAvailable")


def test_the_budget_says_where_its_capacity_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MemoryBudget(GIB, "--memory-budget-mb").source == "--memory-budget-mb"
    limit = Limit(2 * GIB, "cgroup v1 memory.limit_in_bytes 3.00 GiB (/)")
    monkeypatch.setattr(memory_budget, "tightest_limit", lambda: limit)
    budget = MemoryBudget()
    assert budget.capacity == int(2 * GIB * 0.9)
    assert budget.source.startswith("cgroup v1 memory.limit_in_bytes 3.00 GiB (/)")
    monkeypatch.setattr(memory_budget, "tightest_limit", lambda: None)
    assert MemoryBudget().source.startswith("no limit found")

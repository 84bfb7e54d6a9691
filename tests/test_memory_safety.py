"""The daemon in a real 3 GiB memory cgroup, under hostile requests, is never OOM-killed.

Issue 18's "memory-safety test that can fail": a child memory cgroup (v1 or v2,
tests/memory_cgroup.py) limited to 3 GiB; the daemon joins it before exec and runs with
default memory settings, so its budget comes from the cgroup's limit (checked in
GetInfo's ``memory_budget_source``). A seeded Hypothesis draw of requests from
tests/memory_cases.py (content that decodes to 8192², 16-bit RGBA, thin content through
both methods, optimisations with many 8192² styles or an 8192² init image, big masks,
AddStyle with 8192² 16-bit PNGs, thumbnails) runs from three threads. Then:

- the daemon is alive and the cgroup's ``oom_kill`` count is 0;
- every refusal is RESOURCE_EXHAUSTED TOO_LARGE_FOR_MEMORY / MEMORY_BUSY (or BUSY /
  LIMIT_EXCEEDED, the documented limits) with its ErrorInfo (and RetryInfo where
  retryable), or a documented INVALID_ARGUMENT;
- the daemon's RSS comes back within RSS_MARGIN_MB of its baseline (taken after one small
  optimisation, so VGG19 is loaded) within RSS_SECONDS (the reserved memory's idle
  release: malloc_trim, with TensorFlow's oneDNN blocks in malloc's heap).

Skipped, with the reason, where no memory cgroup can be made (not root, no controller,
a v2 subtree without memory delegated), where the host has too little memory free for
the group's limit, or where the host's own OOM killer (not the group's) killed the daemon:
a busy shared machine, not a defect; a kill by the group's limit always fails. Replay a
run with MEMORY_SAFETY_SEED=<n>; the long run (10,000 requests) is bench/memory_safety.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fuzz_cases
import grpc
import memory_cases
import pytest
from conftest import DaemonProcess, start_daemon, stop_daemon, wait_serving
from memory_cgroup import CgroupUnavailable, MemoryCgroup
from stylize.v1 import stylize_pb2 as pb
from stylize.v1 import stylize_pb2_grpc

LIMIT = 3 << 30
THREADS = 3
SEED = int(os.environ.get("MEMORY_SAFETY_SEED", "18"))
# The idle release runs 3 s after the last reservation; the gallery's thumbnail cache
# holds up to 512 small images. Measured after the mix: 235-440 MB above the baseline
# from run to run (heap fragments malloc_trim cannot return, caches); before the fix
# 1.0-1.3 GB stayed (TensorFlow's oneDNN pool), which this margin still catches.
RSS_MARGIN_MB = 600
RSS_SECONDS = 20
HOST_SPARE = 1 << 30  # beyond the group's limit, for the test process and the machine


@dataclass
class Contained:
    daemon: DaemonProcess
    group: MemoryCgroup


def host_oom_kills() -> int:
    """OOM kills on this host since boot (the group's own and the machine's)."""
    for line in Path("/proc/vmstat").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


def host_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture
def contained(tmp_path: Path) -> Iterator[Contained]:
    if host_available() < LIMIT + HOST_SPARE:  # the machine would kill before the group
        pytest.skip(f"the host has {host_available() / 2**30:.1f} GiB available; this needs "
                    f"{(LIMIT + HOST_SPARE) / 2**30:.1f}")  # fmt: skip
    try:
        group = MemoryCgroup.create(LIMIT)
    except (CgroupUnavailable, OSError) as error:
        print(f"cannot make a memory cgroup: {error}")
        pytest.skip(f"cannot make a memory cgroup: {error}")
    try:
        data = tmp_path / "data"
        data.mkdir()
        daemon = start_daemon(
            tmp_path / "daemon.log", env={"STYLIZE_DATA_DIR": str(data)}, wrapper=group.wrapper()
        )
        try:
            yield Contained(daemon, group)
        finally:
            stop_daemon(daemon)
    finally:
        group.remove()


WARMED = "warm-up of the other graphs done"  # the daemon's log, once the background warm-up ends


def warm_baseline(daemon: DaemonProcess) -> float:
    """RSS once the background warm-up has compiled every graph (it pauses while requests
    run and would otherwise go on compiling after the mix, inside the RSS check), a small
    optimisation has loaded VGG19, and the idle release has run."""
    address, pid = daemon.address, daemon.process.pid
    deadline = time.monotonic() + 180
    while WARMED not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert WARMED in daemon.log(), daemon.log()[-3000:]
    content = memory_cases.flat_png(48, 40, "RGB8", 90)
    setup = pb.StylizeSetup(
        content=pb.ContentHeader(encoded=pb.EncodedKind()),
        styles=[pb.StyleSource(named="starry_night")],
        method=pb.METHOD_OPTIMIZE,
        optimize=pb.OptimizeOptions(iterations=1),
    )
    case = memory_cases.Case("warm", "Stylize", memory_cases._stylize(setup, content))
    with grpc.insecure_channel(address) as channel:
        assert memory_cases.run(channel, case).code == "OK"
    time.sleep(5)
    return fuzz_cases.rss_mb(pid)


def budget_source(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        info = stylize_pb2_grpc.StyleTransferStub(channel).GetInfo(pb.GetInfoRequest(), timeout=10)
    return info.limits.memory_budget_source


def check_run(
    contained: Contained, tally: memory_cases.Tally, baseline_mb: float, host_kills: int
) -> None:
    daemon, group = contained.daemon, contained.group
    summary = (
        f"seed {SEED}, outcomes {dict(tally.outcomes)}, peak "
        f"{(group.peak_bytes() or 0) / 2**30:.2f} of {LIMIT / 2**30:.2f} GiB, "
        f"oom_kill {group.oom_kills()}, limit hits {group.limit_hits()}"
    )
    print(summary)
    died = "\n".join(tally.problems[:10])
    assert group.oom_kills() == 0, summary
    if daemon.process.poll() == -9 and host_oom_kills() > host_kills:
        pytest.skip(f"the host's OOM killer (not the group's limit) killed the daemon: {summary}")
    assert daemon.process.poll() is None, (
        f"daemon died ({daemon.process.returncode}): {summary}\n{died}"
    )
    wait_serving(daemon.address, timeout=10)
    assert not tally.problems, "\n".join(tally.problems[:20])

    def settled() -> bool:
        return fuzz_cases.rss_mb(daemon.process.pid) - baseline_mb < RSS_MARGIN_MB

    deadline = time.monotonic() + RSS_SECONDS
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.5)
    grown = fuzz_cases.rss_mb(daemon.process.pid) - baseline_mb
    message = f"RSS {grown:.0f} MB above its {baseline_mb:.0f} MB baseline after {RSS_SECONDS}s"
    print(message)
    assert grown < RSS_MARGIN_MB, message


def _run(contained: Contained, requests: int, batch: int) -> None:
    source = budget_source(contained.daemon.address)
    cgroup_name = "memory.limit_in_bytes" if contained.group.version == 1 else "memory.max"
    assert f"cgroup v{contained.group.version} {cgroup_name} 3.00 GiB" in source, source
    assert contained.group.path.name in source, source
    baseline = warm_baseline(contained.daemon)
    daemon = contained.daemon
    alive = lambda: daemon.process.poll() is None  # noqa: E731
    host_kills = host_oom_kills()
    tally = memory_cases.hammer(daemon.address, requests, batch, SEED, THREADS, alive)
    check_run(contained, tally, baseline, host_kills)


@pytest.mark.slow  # about a minute: CI's second stage
def test_hostile_mix_in_a_3_gib_cgroup_never_kills_the_daemon(contained: Contained) -> None:
    _run(contained, requests=36, batch=12)

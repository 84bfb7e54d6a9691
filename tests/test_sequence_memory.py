"""A long StylizeSequence does not grow the daemon's memory (the short form of
bench/video_memory.py, which streams 10,000 frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, DaemonProcess
from PIL import Image
from stylize.client.library import RawImage, StylizeClient, named_style

W, H = 160, 90  # a lost frame or result per frame would be 43 KB a frame: 26 MB over 600
FRAMES, FROM = 700, 100  # RSS compared between frame FROM (settled) and the last
TOLERANCE_MIB = 12  # the allocator's steps on a shared machine: a few MiB


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _clip() -> list[RawImage]:
    photo = np.asarray(Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((400, 225)))
    band = photo[60 : 60 + H]
    return [RawImage(W, H, "RGB8", band[:, 2 * i : 2 * i + W].tobytes()) for i in range(100)]


def _ping_pong(count: int):
    clip = _clip()
    cycle = clip + clip[-2:0:-1]
    return (cycle[index % len(cycle)] for index in range(count))


@pytest.mark.slow
def test_a_long_sequence_does_not_grow_the_daemons_memory(
    daemon_process: DaemonProcess,
) -> None:
    pid = daemon_process.process.pid
    rss: dict[int, int] = {}
    with StylizeClient(daemon_process.address) as client:
        results = client.stylize_sequence(_ping_pong(FRAMES), [named_style("starry_night")])
        for done, _ in enumerate(results, start=1):
            if done in (FROM, FRAMES):
                rss[done] = _rss_kib(pid)
    assert len(rss) == 2
    assert (rss[FRAMES] - rss[FROM]) / 1024 < TOLERANCE_MIB, rss

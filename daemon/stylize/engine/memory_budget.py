"""Refuse a job the machine cannot hold, instead of being killed by the OOM killer.

The estimates are peak bytes per pixel measured with bench/large_images.py
(process peak minus the idle process, rounded up): about 290 for the
whole-image path and 110 for the strip path.
"""

from __future__ import annotations

from pathlib import Path

from stylize.engine.errors import LimitExceededError

WHOLE_BYTES_PER_PIXEL = 290
STRIP_BYTES_PER_PIXEL = 110
_HEADROOM = 0.9  # leave a tenth of what is free to everything else


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo; None where there is no such file."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check(width: int, height: int, strips: bool, available: int | None = None) -> None:
    """Raise LimitExceededError when the job would need more memory than is free."""
    free = available_bytes() if available is None else available
    if free is None:
        return
    per_pixel = STRIP_BYTES_PER_PIXEL if strips else WHOLE_BYTES_PER_PIXEL
    needed = width * height * per_pixel
    if needed > free * _HEADROOM:
        raise LimitExceededError(
            f"a {width}x{height} image needs about {needed / 2**30:.1f} GiB of memory and "
            f"{free / 2**30:.1f} GiB is free; scale it down (options.max_side, CLI --max-side) "
            "or free some memory"
        )

"""glibc malloc settings for a long-running daemon that handles many large images.

Each request allocates and frees tens of tensors of 30+ MB. With glibc's
defaults, allocations made from worker threads land in per-thread arenas and
large blocks are mmap'd and unmapped on every request, so every job pays
fresh page faults and the timing jitters by up to 50 % (measured with
bench/benchmark.py). One arena, a 32 MiB mmap threshold (glibc's maximum), and
keeping up to 256 MiB of freed memory for reuse make the daemon as fast and
steady as the engine in-process. Must run before TensorFlow starts its threads.

TensorFlow's oneDNN CPU allocator keeps every large block it ever allocated in a pool of
its own (1.3 GB after one optimisation of 16 x 16384 content, never returned):
``TF_ONEDNN_USE_SYSTEM_ALLOCATOR`` hands its blocks to malloc instead, so the idle
release's ``malloc_trim`` gives them back (engine/idle_memory.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

SETTINGS = {
    M_ARENA_MAX: 1,
    M_MMAP_THRESHOLD: 32 << 20,
    M_TRIM_THRESHOLD: 256 << 20,
    M_TOP_PAD: 64 << 20,
}


def tune_malloc() -> bool:
    """Apply SETTINGS through mallopt(3); a no-op where libc is not glibc."""
    os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")  # before TensorFlow loads
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    applied = all(
        mallopt(ctypes.c_int(param), ctypes.c_int(value)) == 1 for param, value in SETTINGS.items()
    )
    log.debug("malloc tuning applied=%s", applied)
    return applied

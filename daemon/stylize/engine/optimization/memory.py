"""How much memory a run needs, so the daemon can refuse early and name a size that fits.

Peak bytes per pixel of the finest scale above an idle process that has VGG19 loaded,
measured with bench/optimize_iteration.py (see BENCHMARKS.md) and rounded up. VGG19's
activations and their gradients dominate; L-BFGS adds its float64 history (2 x 10
copies of the image) and SciPy's working arrays. Style images only run forwards.
"""

from __future__ import annotations

import math

# float32 at 512 x 512, peak above the idle process, two runs: L-BFGS 3.9-4.1 KB, Adam
# 2.7-2.9 KB per pixel (the constant part, under 60 MB, included); bfloat16 needs less.
BYTES_PER_PIXEL = {"lbfgs": 4200, "adam": 3000}
_HEADROOM = 0.9  # as engine/memory_budget.py: leave a tenth of what is free


def estimate_bytes(width: int, height: int, optimizer: str, style_scale: float = 1.0) -> int:
    """Peak extra bytes of a run whose finest scale is ``width`` x ``height``."""
    pixels = width * height * max(1.0, style_scale**2 / 3)  # a style image costs ~1/3 per pixel
    return math.ceil(pixels * BYTES_PER_PIXEL[optimizer])


def largest_fitting_size(
    width: int, height: int, optimizer: str, available: int, style_scale: float = 1.0
) -> tuple[int, int]:
    """The content size, scaled down with its aspect ratio, whose run fits ``available``."""
    needed = estimate_bytes(width, height, optimizer, style_scale)
    budget = available * _HEADROOM
    if needed <= budget:
        return width, height
    factor = math.sqrt(budget / needed)
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))

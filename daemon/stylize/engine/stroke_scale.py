"""Stroke (texture) scale: the size of the style's strokes relative to the image.

The network paints strokes of a fixed size in pixels, so how large they look in
the result is set by the size the network runs at. A 12-MP photo at full
resolution gets strokes a few pixels wide (an embossed relief at 100 %); run at
about 1024 px and upsampled with the content's edges (engine/guided_upsampling.py)
it gets painterly strokes and sharp edges. Free of TensorFlow, so the CLI and the
bridge can check a value before any job.
"""

from __future__ import annotations

import math

from stylize.engine.errors import InvalidInputError
from stylize.engine.images import MIN_SIDE

# Scale 1 (the default, chosen by looking at 1, 12 and 24 MP photos: BENCHMARKS.md)
# runs the network at a long side of STROKE_REFERENCE_SIDE; scale s at
# STROKE_REFERENCE_SIDE / s (bigger s, bigger strokes), never above the image's own
# size, so MIN_STROKE_SCALE means full resolution for any image (the behaviour before
# stroke scale: the network's finest strokes).
STROKE_REFERENCE_SIDE = 1024
DEFAULT_STROKE_SCALE = 1.0
MIN_STROKE_SCALE = 1 / 64  # 65,536 px: full resolution at every size the daemon accepts
MAX_STROKE_SCALE = 16.0  # a 64-px working size: beyond, nothing of the content is left


def check_stroke_scale(value: float) -> float:
    """``value`` if it is a stroke scale the engine accepts, else InvalidInputError."""
    if not (math.isfinite(value) and MIN_STROKE_SCALE <= value <= MAX_STROKE_SCALE):
        raise InvalidInputError(
            f"stroke scale {value} must be between {MIN_STROKE_SCALE} (1/64: full resolution) "
            f"and {MAX_STROKE_SCALE:g}; {DEFAULT_STROKE_SCALE:g} (the default) paints strokes as "
            f"the network does on a {STROKE_REFERENCE_SIDE}-px image, 2 twice as large",
            field="options.stroke_scale",
        )
    return value


def working_size(
    width: int, height: int, stroke_scale: float, max_side: int = 0
) -> tuple[int, int]:
    """The size the network runs at: the smaller of the stroke scale's and ``max_side``.

    The stroke scale never takes the short side below MIN_SIDE (it is a look, not a
    limit); ``max_side`` is applied as asked (jobs/checks.py refuses a too-small result).
    """
    long_side, short_side = max(width, height), min(width, height)
    target = STROKE_REFERENCE_SIDE / check_stroke_scale(stroke_scale)
    target = max(target, MIN_SIDE * long_side / max(short_side, 1))
    if max_side:
        target = min(target, max_side)
    if target >= long_side:
        return width, height
    scale = target / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))

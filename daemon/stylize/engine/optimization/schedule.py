"""Coarse-to-fine: the working sizes of a run and the iterations each one gets.

Optimising a large image from scratch needs many iterations at full cost; starting at
a small size settles the layout cheaply, and each larger scale starts from the
upsampled result of the one before (as in neural-style's multires recipe).
"""

from __future__ import annotations

import itertools

from stylize.engine.errors import InvalidInputError
from stylize.engine.images import MIN_SIDE

AUTO_COARSEST_SIDE = 256  # the automatic schedule halves the long side down to this
MAX_SCALES = 8


def fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled so its long side is ``long_side`` (sides >= MIN_SIDE)."""
    factor = long_side / max(width, height)
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))


def long_sides(
    width: int, height: int, scales: tuple[int, ...], iterations: int
) -> tuple[int, ...]:
    """The long side of each scale, coarse to fine.

    ``scales`` empty: automatic, the content's long side halved while the half is at
    least AUTO_COARSEST_SIDE (1024 px -> 256, 512, 1024), and at most one scale per
    iteration. Otherwise the given sides, checked.
    """
    largest = max(width, height)
    if not scales:
        sides = [largest]
        while sides[0] // 2 >= AUTO_COARSEST_SIDE and len(sides) < MAX_SCALES:
            sides.insert(0, sides[0] // 2)
        return tuple(sides[-iterations:])
    if len(scales) > MAX_SCALES:
        raise InvalidInputError(f"at most {MAX_SCALES} scales, got {len(scales)}")
    if any(b <= a for a, b in itertools.pairwise(scales)):
        raise InvalidInputError(f"scales must increase (coarse to fine), got {list(scales)}")
    if scales[0] < MIN_SIDE or scales[-1] > largest:
        raise InvalidInputError(
            f"scales (long sides in pixels) must lie in {MIN_SIDE}..{largest} for a "
            f"{width}x{height} content image, got {list(scales)}"
        )
    if iterations < len(scales):
        raise InvalidInputError(
            f"{iterations} iteration(s) cannot cover {len(scales)} scales; "
            "ask for at least one iteration per scale"
        )
    return scales


def split_iterations(iterations: int, scales: int) -> tuple[int, ...]:
    """The total split evenly over the scales; the remainder goes to the finest."""
    share = iterations // scales
    return (share,) * (scales - 1) + (iterations - share * (scales - 1),)

"""Coarse-to-fine: the working sizes of a run and the iterations each one gets.

Optimising a large image from scratch needs many iterations at full cost; starting at
a small size settles the layout cheaply, and each larger scale starts from the
upsampled result of the one before (as in neural-style's multires recipe).
"""

from __future__ import annotations

import itertools
import math

from stylize.engine.errors import InvalidInputError, TooLargeForMemoryError
from stylize.engine.images import MIN_SIDE

AUTO_COARSEST_SIDE = 256  # the automatic schedule halves the long side down to this
MAX_SCALES = 8
# A style image is sized by the scale's long side (neural-style's style_scale), but its
# area stays within this many times the content's (times style_scale squared): thin
# content (16x16384) would otherwise meet a 16384x10240 style, whose VGG19 activations
# (64 channels, ~11 G floats) take tens of GB and overflow TensorFlow's 32-bit indexing
# (issue 18: SIGSEGV in libtensorflow_framework). 4 leaves every content up to about 4:1
# with any style as neural-style sizes it.
MAX_STYLE_AREA_RATIO = 4.0
# No image reaches VGG19 with more pixels than this: a block1 activation of 64 channels
# stays below 2**31 elements (TensorFlow's CPU kernels index with 32 bits) with room.
MAX_VGG_PIXELS = (1 << 31) // 64 // 2


def fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled so its long side is ``long_side`` (sides >= MIN_SIDE)."""
    factor = long_side / max(width, height)
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))


def layer_min_side(layers: tuple[str, ...]) -> int:
    """The smallest side whose VGG19 maps at ``layers`` are not empty: 2 per pooling
    before the layer ("block5_pool" follows 5: 32 px; "block5_conv1" 4: 16 px)."""
    pools = 0
    for name in layers:
        block = int(name[len("block")])
        pools = max(pools, block if name.endswith("_pool") else block - 1)
    return max(MIN_SIDE, 1 << pools)


def style_size(
    style_width: int,
    style_height: int,
    width: int,
    height: int,
    style_scale: float,
    min_side: int = MIN_SIDE,
) -> tuple[int, int]:
    """A style image's working size beside content at ``width`` x ``height``.

    Its long side is ``style_scale`` times the content's, scaled down where its area
    would pass MAX_STYLE_AREA_RATIO * style_scale**2 times the content's area, or
    MAX_VGG_PIXELS; both sides at least ``min_side`` (VGG19's four poolings before
    block5_conv1 need 16 pixels, :func:`layer_min_side`).
    """
    long_side = max(1, round(max(width, height) * style_scale))
    w, h = fit(style_width, style_height, long_side)
    cap = min(MAX_STYLE_AREA_RATIO * style_scale**2 * width * height, MAX_VGG_PIXELS)
    if w * h > cap:
        factor = math.sqrt(cap / (w * h))
        w, h = math.floor(w * factor), math.floor(h * factor)
    return max(min_side, w), max(min_side, h)


def check_size(width: int, height: int, layers: tuple[str, ...] = ()) -> None:
    """Refuse a working size whose VGG19 activations TensorFlow cannot index, or whose
    maps at ``layers`` would be empty (oneDNN's pooling aborts on a 1-pixel input)."""
    need = layer_min_side(layers)
    if min(width, height) < need:
        deep = [name for name in layers if layer_min_side((name,)) > min(width, height)]
        raise InvalidInputError(
            f"VGG19 layer(s) {', '.join(deep)} need images at least {need} pixels on each "
            f"side; the content is optimised at {width}x{height} at one scale: choose "
            "shallower layers or larger scales",
            field="layers",
        )
    if width * height > MAX_VGG_PIXELS:
        raise TooLargeForMemoryError(
            f"optimising at {width}x{height} is beyond what VGG19 on TensorFlow can hold "
            f"({MAX_VGG_PIXELS:,} pixels at most); set options.max_side (CLI --max-side) "
            f"to {math.isqrt(MAX_VGG_PIXELS)} or less",
            field="options.max_side",
        )


def check_scales(scales: tuple[int, ...], iterations: int) -> None:
    """What can be checked of explicit ``scales`` without the content (refusals name
    ``scales``): at most MAX_SCALES, increasing, at least MIN_SIDE, one iteration each."""
    if not scales:
        return
    if len(scales) > MAX_SCALES:
        raise InvalidInputError(f"at most {MAX_SCALES} scales, got {len(scales)}", field="scales")
    if any(b <= a for a, b in itertools.pairwise(scales)):
        raise InvalidInputError(
            f"scales must increase (coarse to fine), got {list(scales)}", field="scales"
        )
    if scales[0] < MIN_SIDE:
        raise InvalidInputError(
            f"scales (long sides in pixels) must be at least {MIN_SIDE}, got {list(scales)}",
            field="scales",
        )
    if iterations < len(scales):
        raise InvalidInputError(
            f"{iterations} iteration(s) cannot cover {len(scales)} scales; "
            "ask for at least one iteration per scale",
            field="scales",
        )


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
    check_scales(scales, iterations)
    if scales[-1] > largest:
        raise InvalidInputError(
            f"scales (long sides in pixels) must lie in {MIN_SIDE}..{largest} for a "
            f"{width}x{height} content image, got {list(scales)}",
            field="scales",
        )
    return scales


def split_iterations(iterations: int, scales: int) -> tuple[int, ...]:
    """The total over the scales, each finer scale getting half the iterations of the one
    before it (the rounding's remainder goes to the coarsest, every scale at least one).

    An iteration at twice the side costs four times as much, so the coarse scales, which
    settle the layout and the texture, get most of the iterations for little time, and a
    print-size finest scale only refines the upsampled result (as crowsonkb's
    style-transfer-pytorch does); the time per scale doubles toward the finest.
    """
    shares = [1 << (scales - 1 - index) for index in range(scales)]
    counts = [max(1, iterations * share // sum(shares)) for share in shares]
    while sum(counts) > iterations:  # only when iterations is close to scales
        counts[len(counts) - 1 - counts[::-1].index(max(counts))] -= 1  # finest first
    counts[0] += iterations - sum(counts)
    return tuple(counts)

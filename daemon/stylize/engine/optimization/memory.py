"""How much memory a run needs, so the daemon can refuse early and name a size that fits.

The estimate follows what the method allocates, phase by phase, at each scale of the
schedule (the finest costs most), float32 (bfloat16 needs less):

- the targets: VGG19 forward passes of the content and of each style image at its
  working size (schedule.style_size: the scale's long side times style_scale, its area
  capped), the content's feature maps kept meanwhile, and two styles' at once (the one
  being computed and the previous one); the Gram matrices themselves are small;
- the optimisation: VGG19's activations and their gradients at the content's working
  size, and the optimiser's state (L-BFGS: 2 x 10 float64 copies of the image and
  SciPy's arrays; Adam: two moments);
- copies at the content's full size (8-bit copy, previews, the result in the content's
  depth, preserve_colors' float arrays) and of each style and init image's decoded
  pixels (its opaque RGB, resized);
- with regions (guidance.py), each style of the guided style loss: its weight maps at
  the working size and at each layer, and the mask-weighted copies of the style
  layers' feature maps that its Gram matrices read, kept for the gradient; and each mask
  as floats at its given size, with its resampled copy.

The phases are added, not maxed: freed activations stay in the allocators' caches
(glibc keeps up to 256 MiB, malloc_tuning.py), and the sum is within about 2x of the
peak for ordinary shapes. Per-pixel figures: peak RSS above an idle process with VGG19
loaded (tests/test_optimization_memory.py measures it against this estimate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stylize.engine.optimization import schedule
from stylize.engine.optimization.optimizers import optimizer_at

# Peak above the idle process per pixel of the working size, by precision. float32:
# L-BFGS 4.1-4.4 KB, Adam 2.7-3.4 KB with Keras's VGG19 (512 x 384 and 256 x 256, style
# 16 x 16, the fixed part apart); the written-out pass, which keeps only the layers
# asked for, measured 2.2 KB everything included (768 x 576, Adam on the finest scale),
# and the Keras-era rates put small runs above 3x their peak. bfloat16 (VGG19's
# activations in 2 bytes), whole runs, everything included: 1.6 KB at 768 x 576 and
# 2048 x 2048 with Adam on the finest scale, 2.9 KB at a 1024 x 1024 L-BFGS scale; since
# the Gram matrices keep no float32 copy of the maps (losses.gram_matrix) and the heap is
# trimmed between scales, 1.25 KB at 2048 x 2048 (1.57 KB untrimmed; BENCHMARKS.md,
# print size, run 3): the Adam rate went from 1500 to 1200.
BYTES_PER_PIXEL = {
    "float32": {"lbfgs": 3300, "adam": 2200},
    "bfloat16": {"lbfgs": 2700, "adam": 1200},
}
# The style passes' activations are in VGG19's precision too (their Gram inputs float32).
STYLE_PASS_SHARE = {"float32": 1.0, "bfloat16": 0.5}
STYLE_PASS_BYTES_PER_PIXEL = 1000  # a forward pass (Keras's: 1.43 KB at 2048 x 1280)
KEPT_BYTES_PER_PIXEL = 560  # the 6 default layers' maps: 130 floats per input pixel
COPY_BYTES_PER_PIXEL = 96  # per pixel of the content's full size
SOURCE_BYTES_PER_PIXEL = 24  # per pixel of a style or init image: PIL copy, RGBA, RGB
# Regions: per style of the guided loss, per pixel of the working size: the weighted
# copies of the default style layers' maps (122 floats a pixel) in the forward pass,
# their gradients, the weight maps (K x [H, W] and the layers'). Measured 310-500 B
# (2 and 3 regions against none, 256 x 192 and 384 x 384, L-BFGS and Adam, float32).
# With the daemon's allocator (TF_ONEDNN_USE_SYSTEM_ALLOCATOR: oneDNN's blocks in malloc)
# a 256 x 192 two-region run measured 434 MiB against 417 estimated at 800 B: 1200 B.
GUIDED_BYTES_PER_PIXEL = 1200
MASK_BYTES_PER_PIXEL = 12  # per pixel of a given mask: float32, resampled copy, weights
FIXED_BYTES = 80 << 20  # traces, oneDNN scratch, SciPy (96 MiB with Keras's extractors)
WORST_STYLES = 2  # unknown styles: two at the largest area a style may take
_HEADROOM = 0.9  # as engine/memory_budget.py: leave a tenth of what is free

Size = tuple[int, int]


def run_bytes(
    content: Size,
    styles: Sequence[Size] | None,
    optimizer: str,
    scales: Sequence[int] = (),
    style_scale: float = 1.0,
    init: Size | None = None,
    masks: Sequence[Size] = (),
    guided: int = 0,
    precision: str = "float32",
) -> int:
    """Peak extra bytes of an optimisation of ``content`` (full size, width x height).

    ``styles``: the style images' decoded sizes (None: not known yet, the worst any
    style could take); ``scales``: the schedule's long sides (empty: the content's long
    side, as the finest automatic scale); ``init``: the init image's size, if any;
    ``masks``: the sizes of the regions and style regions given; ``guided``: the styles
    in the guided style loss (0: no style has a region); ``precision``: VGG19's
    (vgg_features.Vgg19.precision).
    """
    width, height = content
    sides = tuple(scales) or (max(width, height),)
    worst = 0.0
    for side in sides:
        w, h = schedule.fit(width, height, side)
        pixels = w * h
        if styles is None:
            largest = _worst_style_pixels(w, h, style_scale)
            style_areas = [largest] * WORST_STYLES
        else:
            style_areas = sorted(
                (math.prod(schedule.style_size(*style, w, h, style_scale)) for style in styles),
                reverse=True,
            )
        style_pass = STYLE_PASS_SHARE[precision] * (
            pixels * KEPT_BYTES_PER_PIXEL
            + sum(
                area * rate
                for area, rate in zip(
                    style_areas, (STYLE_PASS_BYTES_PER_PIXEL, KEPT_BYTES_PER_PIXEL), strict=False
                )
            )
        )
        rate = BYTES_PER_PIXEL[precision][optimizer_at(optimizer, pixels)]
        optimise = pixels * (rate + guided * GUIDED_BYTES_PER_PIXEL)
        worst = max(worst, style_pass + optimise)
    sources = sum(w * h for w, h in styles or ()) + (init[0] * init[1] if init else 0)
    copies = width * height * COPY_BYTES_PER_PIXEL + sources * SOURCE_BYTES_PER_PIXEL
    copies += sum(w * h for w, h in masks) * MASK_BYTES_PER_PIXEL
    return math.ceil(FIXED_BYTES + worst + copies)


def _worst_style_pixels(width: int, height: int, style_scale: float) -> int:
    """The largest area schedule.style_size gives any style beside ``width`` x ``height``."""
    long_side = max(width, height) * style_scale
    cap = min(schedule.MAX_STYLE_AREA_RATIO * style_scale**2 * width * height, long_side**2)
    return math.ceil(min(cap, schedule.MAX_VGG_PIXELS) + 2 * schedule.MIN_SIDE * long_side)


def estimate_bytes(
    width: int, height: int, optimizer: str, style_scale: float = 1.0, precision: str = "float32"
) -> int:
    """Peak extra bytes of a run whose finest scale is ``width`` x ``height``, its styles
    not known (the worst they could cost; :func:`run_bytes` with the styles is closer)."""
    return run_bytes((width, height), None, optimizer, (), style_scale, precision=precision)


def largest_fitting_size(
    width: int,
    height: int,
    optimizer: str,
    available: int,
    style_scale: float = 1.0,
    styles: Sequence[Size] | None = None,
    content: Size | None = None,
    masks: Sequence[Size] = (),
    guided: int = 0,
    precision: str = "float32",
) -> tuple[int, int]:
    """The working size, scaled down with its aspect ratio, whose run fits ``available``.

    ``content``: the content's full size when the run works below it (``max_side``): its
    full-size copies cost the same whatever the working size.
    """
    budget = available * _HEADROOM

    def needed(long_side: int) -> int:
        if content is None:  # the content itself is made smaller
            fitted = schedule.fit(width, height, long_side)
            return run_bytes(
                fitted, styles, optimizer, (), style_scale, None, masks, guided, precision
            )
        return run_bytes(
            content, styles, optimizer, (long_side,), style_scale, None, masks, guided, precision
        )

    if needed(max(width, height)) <= budget:
        return width, height
    low, high = 1, max(width, height)  # needed(high) > budget; find the largest that fits
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if needed(middle) <= budget else (low, middle)
    return schedule.fit(width, height, low)

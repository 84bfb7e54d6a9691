"""Regions for the optimisation: guided Gram matrices (Gatys et al. 2017, section 4).

Each style may carry a **region**, a mask over the picture being optimised, and a
**style region**, a mask over its own style image (take the style from part of a
painting). Masks are greyscale float in [0, 1] (``regions.mask_from_array``), any size
with their image's aspect ratio (``regions.aspect_matches``), resampled to each scale's
working size (``regions.resample``: area averaging when shrinking).

Per pixel x of the picture, as the fast method (engine/regions.py): style i's weight is
``a_i(x) = w_i * region_i(x) / sum_j w_j * region_j(x)`` (a style without a region
covers every pixel), and **where every region is 0 the style loss does not act**: no
style's statistics read those pixels, so only the content and total-variation terms
pull on them there (VGG19's receptive fields still carry some of the neighbouring
regions' style gradient a few pixels across the border).

At each style layer the maps are carried to the layer's resolution by 2x2 area averages
aligned with VGG19's 2x2 max poolings (the paper's simplest guidance, downsampling;
area averaging keeps soft values as weights), and style i's Gram matrix is the
**weighted** mean of the features' outer products, ``sum_x a_i(x) F(x) F(x)^T /
(c * sum_x a_i(x))`` (losses.weighted_gram_matrices): the feature maps weighted once by
the mask, so a soft value is a weight, and normalised by the mask's sum, so a region's
statistics do not depend on its area. The style image's target Gram is the same with
its style region. The layer's loss is ``sum_i share_i * ||G_i - T_i||^2`` with
``share_i`` the mean of ``a_i`` over the layer (the style's part of the picture): each
region's pixels are pulled as hard as the whole picture's are without regions.

Where the regions give every pixel the same mix (no region, or regions equal to
constants), the run uses the objective without regions, its weights ``w_i * c_i``:
the same result, bit for bit, as a run without masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stylize.engine.errors import InvalidInputError
from stylize.engine.regions import check_map, resample


@dataclass(frozen=True)
class StyleMasks:
    """One style's masks, float32 [H, W] in [0, 1] (``regions.mask_from_array``)."""

    region: np.ndarray | None = None  # over the content; None: everywhere
    style_region: np.ndarray | None = None  # over the style image; None: all of it


@dataclass(frozen=True)
class Guidance:
    """What a run's masks ask of the objective, for the styles it keeps (weight > 0)."""

    weights: tuple[float, ...]  # the styles' weights, constant regions folded in
    regions: tuple[np.ndarray | None, ...] | None  # None: the same mix at every pixel
    style_regions: tuple[np.ndarray | None, ...]  # None where the whole style image counts

    def style_weights(self, width: int, height: int) -> np.ndarray:
        """Each style's weight at each pixel of the ``width`` x ``height`` working size,
        float32 [K, H, W]: ``w_i * region_i`` normalised to sum to 1, 0 where no region
        covers the pixel."""
        assert self.regions is not None
        raw = np.empty((len(self.weights), height, width), np.float32)
        for index, (weight, region) in enumerate(zip(self.weights, self.regions, strict=True)):
            mask = np.float32(1) if region is None else resample(region, width, height)
            raw[index] = np.float32(weight) * mask
        total = raw.sum(axis=0)
        return raw / np.where(total > 0, total, np.float32(1))

    def style_mask(self, index: int, width: int, height: int) -> np.ndarray | None:
        """Style ``index``'s style region at its working size (None: all of it)."""
        mask = self.style_regions[index]
        return None if mask is None else resample(mask, width, height)


def plan(
    weights: Sequence[float],
    masks: Sequence[StyleMasks | None] | None,
    content: tuple[int, int],
    styles: Sequence[tuple[int, int]],
) -> Guidance:
    """Check the masks (errors name ``styles[i].region`` / ``styles[i].style_region``)
    against the content's and the style images' sizes (width, height), then keep the
    styles weighted above 0 and fold regions that are constant into their weights."""
    every = list(masks) if masks is not None else [None] * len(weights)
    if len(every) != len(weights):
        raise InvalidInputError(
            f"{len(every)} style masks for {len(weights)} styles", field="styles"
        )
    for index, (style_masks, size) in enumerate(zip(every, styles, strict=True)):
        if style_masks is not None:
            check_mask(style_masks.region, *content, f"style {index + 1}'s region",
                       f"styles[{index}].region", "content image")  # fmt: skip
            check_mask(style_masks.style_region, *size, f"style {index + 1}'s style region",
                       f"styles[{index}].style_region", "style image")  # fmt: skip
    kept = [index for index, weight in enumerate(weights) if weight > 0]
    chosen = [every[i] or StyleMasks() for i in kept]
    regions = [item.region for item in chosen]
    style_regions = tuple(
        None if _constant(item.style_region) is not None else item.style_region for item in chosen
    )
    constants = [_constant(region) for region in regions]
    if all(constant is not None for constant in constants):
        folded = tuple(float(weights[i]) * (c or 0.0) for i, c in zip(kept, constants, strict=True))
        if all(c == 1.0 for c in constants):  # exactly today's weights
            folded = tuple(float(weights[i]) for i in kept)
        return Guidance(folded, None, style_regions)
    return Guidance(tuple(float(weights[i]) for i in kept), tuple(regions), style_regions)


def check_mask(
    values: np.ndarray | None, width: int, height: int, what: str, field: str, image: str
) -> None:
    """Refuse a mask that is not greyscale, not finite, outside 0..1, 0 everywhere, or
    not of the ``width`` x ``height`` image's aspect ratio."""
    if values is None:
        return
    check_map(values, width, height, what, field, image)
    if not values.any():
        raise InvalidInputError(
            f"{what} is empty (0 everywhere): it selects nothing; give it some pixels, or "
            "leave the mask out",
            field=field,
        )


def _constant(values: np.ndarray | None) -> float | None:
    """The value of a mask that has one value everywhere (None: everywhere 1), else None."""
    if values is None:
        return 1.0
    first = values.flat[0]
    return float(first) if bool((values == first).all()) else None


def pools_before(layer: str) -> int:
    """VGG19's 2x2 poolings before ``layer``'s output ("block3_conv1": 2, "block3_pool": 3)."""
    block = int(layer[len("block")])
    return block if layer.endswith("_pool") else block - 1


def at_layer(maps: np.ndarray, pools: int) -> np.ndarray:
    """[K, H, W] maps at the resolution after ``pools`` of VGG19's poolings: 2x2 area
    averages on the poolings' grid (a valid 2x2 pooling drops an odd last row or column,
    so these do too)."""
    for _ in range(pools):
        k, rows, columns = maps.shape
        even = maps[:, : rows // 2 * 2, : columns // 2 * 2]
        blocks = even.reshape(k, rows // 2, 2, columns // 2, 2)
        maps = blocks.mean(axis=(2, 4), dtype=np.float32)
    return maps

"""Regions: different styles and strengths in different parts of one picture (issue 17).

A :class:`StyleRegions` is a spatial style mix: styles, each with a vector, a weight and
an optional mask (greyscale, float in [0, 1], any size with the content's aspect ratio;
``None``: everywhere), and an optional strength map. Per pixel x:

- the style weights are ``weight_i * mask_i(x)`` normalised to sum to 1 (soft mask
  values are weights, not thresholds);
- the strength is ``strength * strength_map(x)``, and the pixel's vector is
  ``lerp(content's own vector, mixed vector(x), strength(x))``, as the global strength
  interpolates today (``style_mixing.with_strength``);
- **where every mask is 0, the strength is 0**: the pixel gets the content's own
  vector, the network's unstyled rendering of the photo. An artist who gave every style
  a region said where each style goes; "Starry Night inside the selection" and nothing
  else must not paint Starry Night outside it (falling back to the unmasked mix would
  ignore the only mask given). A style with no mask covers every pixel, so this only
  applies when every style has a mask. The change from style to none there is as
  seamless as between two styles: both are conditioning inside the network.

The network (``transformer_network.py``) is not run once per style: each conditional
instance norm's gamma and beta are affine in the vector, so a per-pixel vector that is a
per-pixel convex mix of K vectors gives per-pixel ``gamma(x) = sum_k w_k(x) gamma_k``
(and beta). Each norm runs as ``x * (W(x) S) + W(x) T``: K weight maps and a K x C
matrix of scales and one of shifts (one row per style); with K fixed in each compiled
graph (``graphs.RegionGraphs``) and the weights summing to 1 this is style 0's affine
plus, per other style, its weight times the difference: element-wise work that the
runtime fuses, with no per-pixel scale map made. Each style's row normalises with that
style's own moments: the per-channel mean and variance over the pixels it weights (its
region, weighted by ``w_k``), not over the whole image. With whole-image moments (tried
first) a region's statistics were pulled by the other styles' activations, so that far
from the boundary each side was 28 levels (mean, of 255) from that style alone, against
47 between the two styles, and the content's-own-vector area of a single-region picture
was washed out white; with per-region moments it is 8-11 levels (BENCHMARKS.md
"Regions"). Where the weights are the same everywhere each style's moments are the
image's, as today.

:meth:`StyleRegions.resolve` turns a StyleRegions into that form: K vectors and K
weight maps summing to 1 at the working size (:class:`SpatialMix`), resampled to each
norm's resolution by :meth:`SpatialMix.levels` (2x2 area averages). Where the weights
are the same at every pixel the mix is one vector, computed as the fast method computes
today's (``style_mixing.mix``, ``with_strength``), and the engine runs today's graphs:
the same output, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from stylize.engine import style_mixing
from stylize.engine.aspect import aspect_matches
from stylize.engine.errors import InvalidInputError

# Measured: a 1024^2 job's own peak with two regions (K = 2) 358 MB, with a strength map
# too (K = 3) 471, against 144 for one style (OpenVINO bf16, bench/regions.py,
# BENCHMARKS.md "Regions"): 204 and 311 bytes a pixel more, rounded up.
REGIONS_WHOLE_EXTRA_BYTES_PER_PIXEL = 320

# The weight maps are stored in 16 bits (11 significant bits, finer than a bf16 runtime's
# 8; the float32 reference sees the same rounded weights whole and in strips): at 67 MP
# each map at the working size is 134 MB, against 268 in float32 (BENCHMARKS.md "Regions").
MAP_DTYPE = np.float16


@dataclass(frozen=True)
class RegionStyle:
    """One style of a spatial mix."""

    vector: np.ndarray  # the style's 100-d vector
    weight: float = 1.0  # >= 0, relative to the other styles' (normalised per pixel)
    mask: np.ndarray | None = None  # [H, W] float in [0, 1]; None: every pixel


@dataclass(frozen=True)
class SpatialMix:
    """K style vectors and their weights at each pixel of the working size."""

    vectors: np.ndarray  # [K, 100] float32
    weights: np.ndarray  # [K, H, W] MAP_DTYPE (or float32), summing to 1 at each pixel

    def levels(self, height: int, width: int) -> LevelMaps:
        """The weights at each norm's resolution for the network's input of ``height`` x
        ``width`` (the working size padded to a multiple of 4, as the content is: by
        reflection), in MAP_DTYPE (averages made in float32)."""
        _, rows, columns = self.weights.shape
        full = self.weights
        if (rows, columns) != (height, width):
            full = np.pad(full, ((0, 0), (0, height - rows), (0, width - columns)), "reflect")
        half = _halve(full)
        return LevelMaps(
            quarter=_halve(half).astype(MAP_DTYPE),
            half=half.astype(MAP_DTYPE),
            full=full.astype(MAP_DTYPE, copy=False),
        )

    def extra_bytes(self, strips: bool) -> int:
        """What the regions add to the network's working set (the memory budget).

        Whole image: the regions graphs' larger intermediates (each norm's per-pixel
        scale and shift, the centred copies its weighted moments read), measured with
        bench/regions.py (BENCHMARKS.md "Regions"), plus the weight maps. Strips: the
        maps at every level (MAP_DTYPE), with their padded copies (MapWindows).
        """
        k, rows, columns = self.weights.shape
        pixels = rows * columns
        size = np.dtype(MAP_DTYPE).itemsize
        maps = size * k * pixels * 3  # the weights, the phased copy, half + quarter, padding
        return maps + (0 if strips else REGIONS_WHOLE_EXTRA_BYTES_PER_PIXEL * pixels)


@dataclass(frozen=True)
class LevelMaps:
    """A spatial mix's weights, channels first, at each resolution the norms run at."""

    quarter: np.ndarray  # [K, H/4, W/4]: the residual blocks
    half: np.ndarray  # [K, H/2, W/2]: expand 1
    full: np.ndarray  # [K, H, W]: expand 2 and 3, which take it phased

    def phased(self, first: int = 0, last: int | None = None) -> np.ndarray:
        """Rows [first, last) of the full-resolution weights in space-to-depth layout,
        [4K, rows, W/2], as the network's phased layers: channel (a, b, k) of half-
        resolution pixel (i, j) is style k's weight at full-resolution pixel (2i + a,
        2j + b). Made per strip: a whole copy would be as large as the weights."""
        k, rows, columns = self.full.shape
        stop = rows // 2 if last is None else last
        part = self.full[:, 2 * first : 2 * stop].reshape(k, stop - first, 2, columns // 2, 2)
        return part.transpose(2, 4, 0, 1, 3).reshape(4 * k, stop - first, columns // 2)


def _halve(maps: np.ndarray) -> np.ndarray:
    """Area average over 2x2 blocks (as cv2.INTER_AREA at exactly half size), in float32."""
    k, rows, columns = maps.shape
    blocks = maps.reshape(k, rows // 2, 2, columns // 2, 2)
    top = blocks[:, :, 0, :, 0].astype(np.float32) + blocks[:, :, 0, :, 1]
    top += blocks[:, :, 1, :, 0]
    top += blocks[:, :, 1, :, 1]
    top *= np.float32(0.25)
    return top


def mask_from_array(values: np.ndarray) -> np.ndarray:
    """A greyscale mask as float32 in [0, 1]: uint8 / 255, uint16 / 65535, floats as they are."""
    array = np.asarray(values)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535)
    return array.astype(np.float32)


def check_map(
    values: np.ndarray | None, width: int, height: int, what: str, field: str, image: str = "image"
) -> None:
    """Refuse a mask that is not greyscale, not finite, outside 0..1, or not of the
    ``width`` x ``height`` ``image``'s aspect ratio (the fast method's and the
    optimisation's masks alike)."""
    if values is None:
        return
    if values.ndim != 2 or min(values.shape) < 1:
        raise InvalidInputError(f"{what} must be a greyscale image", field=field)
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{what} contains NaN or infinite values", field=field)
    if values.min() < 0 or values.max() > 1:
        raise InvalidInputError(f"{what} has values outside 0..1", field=field)
    rows, columns = values.shape
    if not aspect_matches(columns, rows, width, height):
        raise InvalidInputError(
            f"{what} is {columns}x{rows}, not the shape of the {width}x{height} {image}; "
            "give it the image's size or the same aspect ratio",
            field=field,
        )


def resample(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """A mask at ``width`` x ``height``: area averaging when it shrinks, bilinear when it
    grows (area averaging would repeat pixels there); values stay in [0, 1]."""
    rows, columns = values.shape
    if (columns, rows) == (width, height):
        return values
    shrinks = columns * rows >= width * height
    method = cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(values), (width, height), interpolation=method)
    return np.clip(resized, 0.0, 1.0)


def _constant(values: np.ndarray | None) -> float | None:
    """The value of a map that has one value everywhere (None: everywhere 1), else None."""
    if values is None:
        return 1.0
    first = values.flat[0]
    return float(first) if bool((values == first).all()) else None


@dataclass(frozen=True)
class StyleRegions:
    """Styles in regions of the picture, and a strength that may vary (module docstring)."""

    styles: Sequence[RegionStyle]
    strength: float = 1.0
    strength_map: np.ndarray | None = None  # [H, W] in [0, 1], any size with the aspect
    content_vector: np.ndarray | None = None  # the content's own vector; None: computed if needed

    def check(self, width: int, height: int) -> None:
        """Refuse what cannot be painted on a ``width`` x ``height`` content image; errors
        name the field (``styles[i].region``, ``styles[i]``, ``strength``, ``strength_map``)."""
        if not self.styles:
            raise InvalidInputError("at least one style is required", field="styles")
        for index, style in enumerate(self.styles):
            try:
                style_mixing.check_vector(style.vector, f"style {index + 1}'s vector")
            except InvalidInputError as error:
                raise InvalidInputError(str(error), field=f"styles[{index}]") from None
            field = f"styles[{index}].region"
            check_map(style.mask, width, height, f"style {index + 1}'s region", field)
            if style.mask is not None and not style.mask.any():
                raise InvalidInputError(
                    f"style {index + 1}'s region is empty (0 everywhere): it would paint "
                    "nothing; give it some pixels, or leave the style out",
                    field=field,
                )
        try:
            style_mixing.normalised_weights([style.weight for style in self.styles])
        except style_mixing.WeightError as error:
            raise InvalidInputError(str(error), field=f"styles[{error.index}]") from None
        try:
            style_mixing.check_strength(self.strength)
        except InvalidInputError as error:
            raise InvalidInputError(str(error), field="strength") from None
        check_map(self.strength_map, width, height, "the strength map", "strength_map")
        if self.content_vector is not None:
            style_mixing.check_vector(self.content_vector, "the content's vector")

    def resolve(
        self,
        width: int,
        height: int,
        work_width: int,
        work_height: int,
        own: Callable[[], np.ndarray],
    ) -> np.ndarray | SpatialMix:
        """Check against the ``width`` x ``height`` content, then: one vector where the mix is
        the same at every pixel, else a :class:`SpatialMix` at the working size.

        ``own`` gives the content's own vector, called only if it is needed (a strength
        below 1, a strength map, or pixels no mask covers) and ``content_vector`` is None.
        """
        self.check(width, height)

        def content() -> np.ndarray:
            vector = self.content_vector if self.content_vector is not None else own()
            return style_mixing.check_vector(vector, "the content's vector")

        vectors = [style_mixing.check_vector(style.vector) for style in self.styles]
        constants = [_constant(style.mask) for style in self.styles]
        level = _constant(self.strength_map)
        if level is not None and all(c is not None for c in constants):
            # The same at every pixel: the fast method's arithmetic, so today's output.
            raw = [s.weight * (c or 0.0) for s, c in zip(self.styles, constants, strict=True)]
            weights = style_mixing.normalised_weights([float(r) for r in raw])
            mixed = style_mixing.mix(vectors, list(weights))
            strength = self.strength * level
            return style_mixing.with_strength(mixed, content(), strength) if strength < 1 else mixed
        return self._spatial(vectors, work_width, work_height, content)

    def _spatial(
        self, vectors: list[np.ndarray], width: int, height: int, content: Callable[[], np.ndarray]
    ) -> np.ndarray | SpatialMix:
        """The weights at the working size, stored in MAP_DTYPE and made in bands of rows
        (float32 planes of a whole 67-MP picture are 268 MB each): a content channel first
        where the strength varies."""
        masks = [None if s.mask is None else resample(s.mask, width, height) for s in self.styles]
        strength_map = (
            None if self.strength_map is None else resample(self.strength_map, width, height)
        )

        def band(rows: slice) -> tuple[list[np.ndarray], np.ndarray | None]:
            """Each style's weight over ``rows`` (0 where no mask covers), and the strength
            there (None: ``strength`` everywhere)."""
            shape = (len(range(height)[rows]), width)
            raw = [
                np.full(shape, np.float32(style.weight))
                if mask is None
                else np.float32(style.weight) * mask[rows]
                for style, mask in zip(self.styles, masks, strict=True)
            ]
            total = np.sum(raw, axis=0)
            covered = total > 0
            for values in raw:  # each 0 where none covers (weights and masks are >= 0)
                np.divide(values, total, out=values, where=covered)
            if strength_map is None and covered.all():
                return raw, None
            strength = np.full(shape, np.float32(self.strength)) * covered
            if strength_map is not None:
                strength *= strength_map[rows]
            return raw, strength

        step = max(1, _BAND_PIXELS // width)
        bands = [slice(top, top + step) for top in range(0, height, step)]
        fold = all(
            strength is None or bool((strength == self.strength).all())
            for _, strength in map(band, bands)
        )
        if fold:  # no content channel: the strength folded into the vectors
            if self.strength < 1:
                own = content()
                vectors = [style_mixing.with_strength(v, own, self.strength) for v in vectors]
            stacked = vectors
        else:
            stacked = [content(), *vectors]

        def channels(rows: slice) -> list[np.ndarray]:
            weights, strength = band(rows)
            if fold:
                return weights
            if strength is None:  # covered, no strength map here
                strength = np.full_like(weights[0], np.float32(self.strength))
            return [1 - strength, *(values * strength for values in weights)]

        return _stacked(stacked, channels, bands, height, width)


# Rows of the weights made at a time (``StyleRegions._spatial``): 16 MB float32 planes.
_BAND_PIXELS = 1 << 22


def _stacked(
    vectors: list[np.ndarray],
    channels: Callable[[slice], list[np.ndarray]],
    bands: list[slice],
    height: int,
    width: int,
) -> np.ndarray | SpatialMix:
    """The mix of ``vectors`` weighted by ``channels`` (float32, band by band): one vector
    where every channel that is not 0 everywhere is a constant, else a SpatialMix of
    those channels."""
    maps = np.empty((len(vectors), height, width), MAP_DTYPE)
    constants: list[float | None] = []
    for rows in bands:
        for index, values in enumerate(channels(rows)):
            value = _constant(values)
            if len(constants) <= index:
                constants.append(value)
            elif constants[index] != value:
                constants[index] = None
            maps[index, rows] = values
    used = [index for index, value in enumerate(constants) if value != 0]
    if all(constants[i] is not None for i in used):  # e.g. one style, no gaps
        share = np.array([constants[i] for i in used], np.float64)
        mixed = share @ np.stack([vectors[i] for i in used]).astype(np.float64)
        return mixed.astype(np.float32)
    return SpatialMix(
        vectors=np.stack([vectors[i] for i in used]).astype(np.float32),
        weights=maps if len(used) == len(vectors) else maps[used],
    )

"""Regions (issue 17, engine part): styles in parts of the picture, blended inside the network.

Pins the semantics: a mask of all ones on one style is that style alone (exact); constant
masks are today's weighted mix; complementary hard masks paint each side close to that
style alone, and a soft mask leaves no seam; a constant strength map is today's strength;
strips equal the whole image with masks. Exactness with TensorFlow (float32); the
default backend (OpenVINO) against it at the backends' usual bound. Measured figures
(192x128, TensorFlow) are in the comments and in BENCHMARKS.md "Regions".
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import STYLES, sample_photo
from stylize.engine import images, regions, style_mixing
from stylize.engine.backends import TensorFlowBackend
from stylize.engine.errors import InvalidInputError
from stylize.engine.regions import (
    MAP_DTYPE,
    RegionStyle,
    SpatialMix,
    StyleRegions,
    aspect_matches,
    mask_from_array,
)
from stylize.engine.style_engine import StyleEngine, StylizeOptions

W, H = 192, 128


@pytest.fixture(scope="module")
def tf_engine() -> StyleEngine:
    return StyleEngine(backend=TensorFlowBackend(reason="regions exactness"))


def _vector(engine: StyleEngine, name: str) -> np.ndarray:
    raw = (STYLES / f"{name}.jpg").read_bytes()
    return engine.style_vector(images.decode(raw, images.ImageLimits(), "style"))


@pytest.fixture(scope="module")
def styles(tf_engine: StyleEngine) -> tuple[np.ndarray, np.ndarray]:
    return _vector(tf_engine, "starry_night"), _vector(tf_engine, "great_wave")


def _pixels(width: int = W, height: int = H) -> images.Pixels:
    return images.Pixels(np.asarray(sample_photo(width, height)), images.PixelMode.RGB)


def _left(width: int = W, height: int = H) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[:, : width // 2] = 1
    return mask


def _run(engine: StyleEngine, style: np.ndarray | SpatialMix, rgb: np.ndarray) -> np.ndarray:
    """The network alone, at ``rgb``'s size (a SpatialMix forces the regions graphs)."""
    return engine._run_network(rgb, style, None, None).astype(np.float64)


def _stylize(engine: StyleEngine, pixels: images.Pixels, style, strips: int | None = None):
    whole, rows = engine.max_whole_pixels, engine.strip_rows
    engine.max_whole_pixels = 10**12 if strips is None else 0
    engine.strip_rows = strips or rows
    try:
        return engine.stylize(pixels, style)
    finally:
        engine.max_whole_pixels, engine.strip_rows = whole, rows


# -- the type, its checks and how it resolves ---------------------------------------------


def _fields(regions: StyleRegions, width: int = W, height: int = H) -> str | None:
    with pytest.raises(InvalidInputError) as caught:
        regions.check(width, height)
    return caught.value.field


def test_bad_masks_are_refused_naming_the_style() -> None:
    vector = np.zeros(100, np.float32)
    good = RegionStyle(vector, mask=_left())
    nan = _left()
    nan[3, 4] = np.nan
    assert _fields(StyleRegions([good, RegionStyle(vector, mask=nan)])) == "styles[1].region"
    wrong = np.ones((H, H), np.float32)
    assert _fields(StyleRegions([RegionStyle(vector, mask=wrong)])) == "styles[0].region"
    empty = np.zeros((H, W), np.float32)
    assert _fields(StyleRegions([good, RegionStyle(vector, mask=empty)])) == "styles[1].region"
    above = _left() * 2
    assert _fields(StyleRegions([RegionStyle(vector, mask=above)])) == "styles[0].region"
    assert _fields(StyleRegions([good], strength_map=np.full((H, W), np.inf))) == "strength_map"
    assert _fields(StyleRegions([good], strength=1.5)) == "strength"
    assert _fields(StyleRegions([good, RegionStyle(vector, weight=-1)])) == "styles[1]"
    assert _fields(StyleRegions([RegionStyle(np.zeros(5, np.float32))])) == "styles[0]"
    assert _fields(StyleRegions([])) == "styles"


def test_masks_of_any_size_with_the_aspect_ratio_pass() -> None:
    assert aspect_matches(100, 67, 1000, 667)  # scaled down and rounded by an editor
    assert aspect_matches(3000, 2001, 1500, 1000)  # scaled up: 1 px at the content's size
    assert aspect_matches(48, 32, W, H)
    assert not aspect_matches(100, 80, 1000, 667)
    assert not aspect_matches(W, H + 3, W, H)
    small = np.ones((32, 48), np.float32)
    StyleRegions([RegionStyle(np.zeros(100, np.float32), mask=small)]).check(W, H)


def test_masks_convert_from_8_and_16_bit() -> None:
    np.testing.assert_array_equal(mask_from_array(np.array([[0, 255]], np.uint8)), [[0, 1]])
    np.testing.assert_array_equal(mask_from_array(np.array([[65535]], np.uint16)), [[1]])


def test_uniform_regions_resolve_to_todays_vector() -> None:
    """Masks and strength maps with one value everywhere give the vector the fast method gives."""
    rng = np.random.default_rng(0)
    a, b, own = (rng.normal(size=100).astype(np.float32) for _ in range(3))
    ones = np.ones((H, W), np.float32)

    def resolved(regions: StyleRegions) -> np.ndarray:
        out = regions.resolve(W, H, W, H, lambda: own)
        assert isinstance(out, np.ndarray)
        return out

    np.testing.assert_array_equal(resolved(StyleRegions([RegionStyle(a, mask=ones)])), a)
    weights = style_mixing.normalised_weights([2 * 0.25, 1 * 0.75])
    today = style_mixing.mix([a, b], list(weights))
    regions = StyleRegions([RegionStyle(a, 2, ones * 0.25), RegionStyle(b, 1, ones * 0.75)])
    np.testing.assert_array_equal(resolved(regions), today)
    mixed = style_mixing.mix([a, b], [0.5, 0.5])
    strength = StyleRegions([RegionStyle(a), RegionStyle(b)], 0.8, ones * 0.5)
    np.testing.assert_array_equal(
        resolved(strength), style_mixing.with_strength(mixed, own, 0.8 * 0.5)
    )


def test_spatial_weights_sum_to_one_and_uncovered_pixels_get_the_contents_vector() -> None:
    rng = np.random.default_rng(1)
    a, b, own = (rng.normal(size=100).astype(np.float32) for _ in range(3))
    asked: list[bool] = []
    left = StyleRegions([RegionStyle(a, mask=_left()), RegionStyle(b, 3, mask=1 - _left())])
    mix = left.resolve(W, H, W, H, lambda: asked.append(True) or own)
    assert isinstance(mix, SpatialMix) and not asked  # fully covered: no content vector
    assert mix.weights.dtype == MAP_DTYPE  # 16 bits: sums within its rounding of 1
    np.testing.assert_allclose(mix.weights.astype(np.float32).sum(axis=0), 1, atol=1e-3)
    one = StyleRegions([RegionStyle(a, mask=_left())]).resolve(W, H, W, H, lambda: own)
    assert isinstance(one, SpatialMix)
    np.testing.assert_array_equal(one.vectors, np.stack([own, a]))
    assert (one.weights[0][:, W // 2 :] == 1).all() and (one.weights[1][:, : W // 2] == 1).all()


def test_weights_made_in_bands_equal_one_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights are made a band of rows at a time (memory at 67 MP): 5-row bands give
    what one band gives, with a content channel, a strength map, and constants found
    across bands (two styles on the same soft mask: each half everywhere, one vector)."""
    rng = np.random.default_rng(3)
    a, b, own = (rng.normal(size=100).astype(np.float32) for _ in range(3))
    top = np.zeros((H, W), np.float32)
    top[: H // 2] = 1  # the bottom uncovered: its bands have a content channel, the top none
    soft = rng.uniform(0.2, 1, (H, W)).astype(np.float32)
    fade = np.tile(np.linspace(1, 0, H, dtype=np.float32)[:, None], (1, W))
    cases = [
        StyleRegions([RegionStyle(a, mask=_left()), RegionStyle(b, mask=1 - _left())]),
        StyleRegions([RegionStyle(a, mask=top)], strength=0.7),
        StyleRegions([RegionStyle(a, mask=_left()), RegionStyle(b)], strength_map=fade),
        StyleRegions([RegionStyle(a, mask=soft), RegionStyle(b, mask=soft)]),
    ]
    whole = [case.resolve(W, H, W, H, lambda: own) for case in cases]
    monkeypatch.setattr(regions, "_BAND_PIXELS", 5 * W)
    for case, expected in zip(cases, whole, strict=True):
        banded = case.resolve(W, H, W, H, lambda: own)
        if isinstance(expected, SpatialMix):
            assert isinstance(banded, SpatialMix)
            np.testing.assert_array_equal(banded.vectors, expected.vectors)
            np.testing.assert_array_equal(banded.weights, expected.weights)
        else:
            np.testing.assert_array_equal(banded, expected)
    assert not isinstance(whole[-1], SpatialMix)  # constant across the bands: one vector
    assert isinstance(whole[1], SpatialMix) and len(whole[1].vectors) == 2  # own, a


def test_levels_follow_the_networks_layouts() -> None:
    """Quarter and half resolution are 2x2 area averages; the full-resolution weights are
    in space-to-depth order (a, b, k), as the network's phased layers; all in 16 bits."""
    rng = np.random.default_rng(2)
    weights = rng.random((2, 12, 8)).astype(np.float32)
    levels = SpatialMix(np.zeros((2, 100), np.float32), weights).levels(12, 8)
    half, quarter = (weights.reshape(2, n, 12 // n, m, 8 // m) for n, m in ((6, 4), (3, 2)))
    np.testing.assert_allclose(levels.half, half.mean(axis=(2, 4)), 1e-3)
    np.testing.assert_allclose(levels.quarter, quarter.mean(axis=(2, 4)), 1e-3)
    phased = levels.phased()
    assert {m.dtype for m in (levels.half, levels.quarter, phased)} == {np.dtype(MAP_DTYPE)}
    for a in (0, 1):
        for b in (0, 1):
            for k in (0, 1):
                np.testing.assert_array_equal(
                    phased[(2 * a + b) * 2 + k], weights[k, a::2, b::2].astype(MAP_DTYPE)
                )


# -- the network: semantics ---------------------------------------------------------------


def test_all_ones_on_one_style_is_that_style_alone(tf_engine: StyleEngine, styles) -> None:
    a, b = styles
    pixels = _pixels()
    alone = tf_engine.stylize(pixels, a).array
    ones = np.ones((H, W), np.float32)
    one = StyleRegions([RegionStyle(a, mask=ones)])
    np.testing.assert_array_equal(tf_engine.stylize(pixels, one).array, alone)
    other_weightless = StyleRegions([RegionStyle(a, mask=ones), RegionStyle(b, weight=0)])
    np.testing.assert_array_equal(tf_engine.stylize(pixels, other_weightless).array, alone)
    # The regions graphs themselves, with one style weighted 1 everywhere: within a level.
    rgb = pixels.array
    forced = _run(tf_engine, SpatialMix(a[None], ones[None]), rgb)
    assert np.abs(forced - alone).max() <= 1


def test_constant_weights_in_the_regions_graphs_are_todays_mix(
    tf_engine: StyleEngine, styles
) -> None:
    a, b = styles
    rgb = _pixels().array
    ones = np.ones((H, W), np.float32)
    today = _run(tf_engine, style_mixing.mix([a, b], [0.25, 0.75]), rgb)
    spatial = _run(tf_engine, SpatialMix(np.stack([a, b]), np.stack([ones / 4, ones * 3 / 4])), rgb)
    difference = np.abs(today - spatial)
    assert difference.max() <= 1 and difference.mean() < 0.01  # measured 1 and 7e-5


def test_a_constant_strength_map_is_todays_strength(tf_engine: StyleEngine, styles) -> None:
    a, _ = styles
    pixels = _pixels()
    own = tf_engine.style_vector(pixels)
    today = tf_engine.stylize(pixels, style_mixing.with_strength(a, own, 0.4)).array
    ones = np.ones((H, W), np.float32)
    regions = StyleRegions([RegionStyle(a)], 0.8, ones * 0.5, content_vector=own)
    np.testing.assert_array_equal(tf_engine.stylize(pixels, regions).array, today)
    spatial = _run(
        tf_engine, SpatialMix(np.stack([own, a]), np.stack([ones * 0.6, ones * 0.4])), pixels.array
    )
    difference = np.abs(today - spatial)
    assert difference.max() <= 1 and difference.mean() < 0.02  # measured 1 and 0.0003


def test_left_and_right_each_paint_their_style(tf_engine: StyleEngine, styles) -> None:
    """Far from the boundary (16 px) each side is within 14 levels (mean) of its style
    alone (measured 10.8 and 8.2), where the two styles alone are 47 apart."""
    a, b = styles
    pixels = _pixels()
    alone_a = tf_engine.stylize(pixels, a).array.astype(np.float64)
    alone_b = tf_engine.stylize(pixels, b).array.astype(np.float64)
    regions = StyleRegions([RegionStyle(a, mask=_left()), RegionStyle(b, mask=1 - _left())])
    both = tf_engine.stylize(pixels, regions).array.astype(np.float64)
    left, right = slice(0, W // 2 - 16), slice(W // 2 + 16, W)
    assert np.abs(alone_a - alone_b).mean() > 40
    assert np.abs(both[:, left] - alone_a[:, left]).mean() < 14
    assert np.abs(both[:, right] - alone_b[:, right]).mean() < 14
    assert np.abs(both[:, left] - alone_b[:, left]).mean() > 35
    assert np.abs(both[:, right] - alone_a[:, right]).mean() > 35


def test_a_soft_boundary_leaves_no_seam(tf_engine: StyleEngine, styles) -> None:
    """Across a 32-px ramp between the styles no column changes more than the sharpest
    column inside either side does, within 25 % (measured 24.5 against 23.2)."""
    a, b = styles
    ramp = np.clip((np.arange(W) - (W // 2 - 16)) / 32.0, 0, 1).astype(np.float32)
    soft = np.tile(1 - ramp, (H, 1))
    regions = StyleRegions([RegionStyle(a, mask=soft), RegionStyle(b, mask=1 - soft)])
    out = tf_engine.stylize(_pixels(), regions).array.astype(np.float64)
    change = np.abs(np.diff(out, axis=1)).mean(axis=(0, 2))  # per column boundary
    inside = np.concatenate([change[8 : W // 2 - 24], change[W // 2 + 24 : -8]])
    assert change[W // 2 - 20 : W // 2 + 20].max() <= 1.25 * inside.max()


def test_pixels_no_region_covers_get_the_contents_own_style(tf_engine: StyleEngine, styles) -> None:
    """The all-zero rule: strength 0 there (measured 11.4 levels from the content's own
    style 16 px from the boundary, 60 from the style's)."""
    a, _ = styles
    pixels = _pixels()
    own = tf_engine.style_vector(pixels)
    unstyled = tf_engine.stylize(pixels, own).array.astype(np.float64)
    alone = tf_engine.stylize(pixels, a).array.astype(np.float64)
    out = tf_engine.stylize(pixels, StyleRegions([RegionStyle(a, mask=_left())]))
    right = slice(W // 2 + 16, W)
    values = out.array.astype(np.float64)[:, right]
    assert np.abs(values - unstyled[:, right]).mean() < 15
    assert np.abs(values - alone[:, right]).mean() > 30


# -- the paths: strips, stroke scale, depth, colour options, OpenVINO ---------------------


@pytest.mark.parametrize(("size", "rows"), [((203, 157), 16), ((96, 260), 8)])
def test_strips_equal_the_whole_image_with_masks(
    tf_engine: StyleEngine, styles, size, rows: int
) -> None:
    a, b = styles
    width, height = size
    pixels = _pixels(width, height)
    diagonal = (np.add.outer(np.arange(height), np.arange(width)) < (width + height) / 2) * 1.0
    soft = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    regions = StyleRegions(
        [RegionStyle(a, mask=diagonal.astype(np.float32)), RegionStyle(b, 2, mask=soft)],
        strength_map=soft[::-1, ::-1].copy(),
    )
    whole = _stylize(tf_engine, pixels, regions).array.astype(np.int16)
    stripped = _stylize(tf_engine, pixels, regions, rows).array.astype(np.int16)
    difference = np.abs(whole - stripped)
    assert difference.max() <= 1  # float rounding only: no seams at strip borders
    assert difference.mean() < 0.01


def test_strips_equal_the_whole_image_with_masks_at_16_bit(tf_engine: StyleEngine, styles) -> None:
    a, b = styles
    rgb = np.asarray(sample_photo(203, 157)).astype(np.uint16) * 257
    pixels = images.Pixels(rgb, images.PixelMode.RGB)
    regions = StyleRegions([RegionStyle(a, mask=_left(203, 157)), RegionStyle(b)])
    whole = _stylize(tf_engine, pixels, regions)
    stripped = _stylize(tf_engine, pixels, regions, 16)
    assert stripped.depth is images.Depth.U16
    assert np.abs(whole.array.astype(np.int64) - stripped.array).max() <= 8  # of 65535
    assert np.mean(stripped.array % 257 != 0) > 0.9  # not 8-bit levels


def test_regions_with_stroke_scale_and_colour_preservation(tf_engine: StyleEngine, styles) -> None:
    """A working size below the content's: masks (here at half the content's size) are
    resampled to it, the result is upsampled guided by the content; each side is its style."""
    a, b = styles
    pixels = _pixels(2 * W, 2 * H)
    options = StylizeOptions(max_side=W)
    regions = StyleRegions([RegionStyle(a, mask=_left()), RegionStyle(b, mask=1 - _left())])
    both = tf_engine.stylize(pixels, regions, options).array.astype(np.float64)
    alone_a = tf_engine.stylize(pixels, a, options).array.astype(np.float64)
    alone_b = tf_engine.stylize(pixels, b, options).array.astype(np.float64)
    assert both.shape == (2 * H, 2 * W, 3)
    left, right = slice(0, W - 32), slice(W + 32, 2 * W)
    assert np.abs(both[:, left] - alone_a[:, left]).mean() < 14
    assert np.abs(both[:, right] - alone_b[:, right]).mean() < 14
    kept = tf_engine.stylize(pixels, regions, StylizeOptions(max_side=W, preserve_colors=True))
    change = kept.array.astype(np.int16) - pixels.array  # luminance only: R, G, B alike
    unclipped = ((kept.array > 0) & (kept.array < 255)).all(axis=2)
    spread = np.abs(change - change.mean(axis=2, keepdims=True)).max(axis=2)
    assert spread[unclipped].max() <= 1 and unclipped.mean() > 0.5


def test_openvino_regions_agree_with_tensorflow(
    engine: StyleEngine, tf_engine: StyleEngine, styles
) -> None:
    """The default backend, whole image and strips, at the bound the plain path keeps
    against TensorFlow float32 (test_backends.py; measured 0.55 and 0.63 levels with bf16)."""
    a, b = styles
    pixels = _pixels(160, 120)
    mask = _left(160, 120)
    regions = StyleRegions([RegionStyle(a, mask=mask), RegionStyle(b, mask=1 - mask)])
    reference = _stylize(tf_engine, pixels, regions).array.astype(np.int16)
    for strips in (None, 16):
        out = _stylize(engine, pixels, regions, strips).array.astype(np.int16)
        assert np.abs(out - reference).mean() < 1.0

"""Stroke scale: the working size it picks, and the edge-aware upsampling back to full size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import STYLES, sample_photo
from PIL import Image
from stylize.engine import guided_upsampling, images
from stylize.engine.errors import InvalidInputError
from stylize.engine.stroke_scale import MIN_STROKE_SCALE, working_size
from stylize.engine.style_engine import StyleEngine, StylizeOptions


@pytest.fixture(scope="module")
def vector(engine: StyleEngine) -> np.ndarray:
    style = images.decode((STYLES / "starry_night.jpg").read_bytes(), images.ImageLimits(), "style")
    return engine.style_vector(style)


@pytest.mark.parametrize(
    ("size", "scale", "max_side", "expected"),
    [
        ((4000, 3000), 1.0, 0, (1024, 768)),  # the default: a 1024-px painting
        ((3000, 4000), 2.0, 0, (384, 512)),  # twice the strokes: half the working size
        ((800, 600), 1.0, 0, (800, 600)),  # never above the image's own size
        ((6000, 4000), MIN_STROKE_SCALE, 0, (6000, 4000)),  # 1/64: full resolution
        ((4000, 3000), 0.5, 1000, (1000, 750)),  # max_side caps the stroke scale's size
        ((4000, 3000), 4.0, 1000, (256, 192)),  # ... and the smaller of the two wins
        ((4000, 100), 16.0, 0, (640, 16)),  # the short side stays at MIN_SIDE
    ],
)
def test_working_size(size, scale: float, max_side: int, expected) -> None:
    assert working_size(*size, scale, max_side) == expected


@pytest.mark.parametrize("scale", [math.nan, math.inf, 0.0, -2.0, 1 / 65, 16.01])
def test_bad_stroke_scales_are_refused(scale: float) -> None:
    with pytest.raises(InvalidInputError) as caught:
        working_size(100, 100, scale)
    assert caught.value.field == "options.stroke_scale"


def _edge_photo(width: int, height: int) -> np.ndarray:
    """Sharp vertical and diagonal edges on a smooth ramp: what a plain resize blurs."""
    y, x = np.mgrid[0:height, 0:width]
    luma = 0.3 + 0.2 * x / width + 0.4 * ((x // 37 + y // 29) % 2) * (x + y > width // 2)
    return np.repeat((luma * 255).astype(np.uint8)[..., None], 3, axis=2)


def _downsampled(rgb: np.ndarray, factor: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    image = Image.fromarray(rgb).resize((width // factor, height // factor), Image.LANCZOS)
    return np.asarray(image)


def test_edges_the_painting_follows_come_back_sharp() -> None:
    """With a 'stylization' that follows the content exactly, upsampling restores the
    full-resolution content; a plain resize stays blurred."""
    full = _edge_photo(512, 320)
    seen = _downsampled(full, 4)
    result = guided_upsampling.upsample(seen, seen, full)
    plain = np.asarray(Image.fromarray(seen).resize((512, 320), Image.BICUBIC))
    error, blurred = (np.abs(x.astype(float) - full).mean() for x in (result, plain))
    assert error < blurred / 4, (error, blurred)


def test_texture_of_the_painting_is_kept_and_the_photos_grain_left_out() -> None:
    """Where the content is flat, the result is the upsampled painting (its strokes);
    the content's fine grain there does not leak in."""
    rng = np.random.default_rng(0)
    full = np.full((256, 256, 3), 128, np.uint8)
    full = np.clip(full + rng.normal(0, 3, full.shape), 0, 255).astype(np.uint8)  # grain
    seen = _downsampled(full, 4)
    strokes = np.clip(128 + rng.normal(0, 40, seen.shape), 0, 255).astype(np.uint8)
    result = guided_upsampling.upsample(strokes, seen, full).astype(float)
    plain = np.asarray(Image.fromarray(strokes).resize((256, 256), Image.BICUBIC)).astype(float)
    assert np.abs(result - plain).mean() < 1.0
    assert result.std() > 15  # the strokes are still there


def test_strips_have_no_seams(monkeypatch: pytest.MonkeyPatch) -> None:
    full = np.asarray(sample_photo(300, 211))
    seen = _downsampled(full, 3)
    stylized = np.ascontiguousarray(seen[..., ::-1])  # any painting will do
    whole = guided_upsampling.upsample(stylized, seen, full)
    monkeypatch.setattr(guided_upsampling, "STRIP_PIXELS", 300 * 7)  # 7-row strips
    np.testing.assert_array_equal(guided_upsampling.upsample(stylized, seen, full), whole)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_any_dtype_in_the_same_dtype_out(dtype: type) -> None:
    full = np.asarray(sample_photo(120, 80))
    seen = _downsampled(full, 2)
    expected = guided_upsampling.upsample(seen, seen, full).astype(float) / 255

    def convert(rgb: np.ndarray) -> np.ndarray:
        if dtype is np.uint16:
            return rgb.astype(np.uint16) * 257
        return rgb.astype(np.float32) / 255

    result = guided_upsampling.upsample(convert(seen), convert(seen), convert(full))
    assert result.dtype == dtype and result.shape == full.shape
    top = 65535 if dtype is np.uint16 else 1.0
    assert np.abs(result.astype(float) / top - expected).max() < 1.5 / 255


def test_engine_paints_at_the_working_size_and_returns_full_size(
    engine: StyleEngine, vector: np.ndarray
) -> None:
    content = images.Pixels(np.asarray(sample_photo(240, 160)), images.PixelMode.RGB)
    stages: list[str] = []
    big = engine.stylize(
        content, vector, StylizeOptions(stroke_scale=8.0), lambda p: stages.append(p.stage)
    )  # 1024 / 8 = 128 px: a 128x85 painting brought back to 240x160
    assert big.array.shape == content.array.shape and stages[-1] == "upsample"
    full = engine.stylize(content, vector, StylizeOptions(stroke_scale=MIN_STROKE_SCALE))
    default = engine.stylize(content, vector)  # on a 240-px image: its full resolution
    np.testing.assert_array_equal(default.array, full.array)
    assert np.abs(big.array.astype(int) - full.array).mean() > 10  # other strokes


def test_upsampling_works_after_the_strip_runner(engine: StyleEngine, vector: np.ndarray) -> None:
    """A working size that runs in strips, then upsampled: the same as the whole path."""
    content = images.Pixels(np.asarray(sample_photo(400, 300)), images.PixelMode.RGB)
    options = StylizeOptions(stroke_scale=1024 / 200)  # a 200x150 painting
    whole = engine.stylize(content, vector, options).array.astype(np.int16)
    limit, engine.max_whole_pixels = engine.max_whole_pixels, 0
    try:
        stripped = engine.stylize(content, vector, options).array.astype(np.int16)
    finally:
        engine.max_whole_pixels = limit
    assert np.abs(whole - stripped).mean() < 1.0  # the backend's strips vs whole, no seams

"""Large images run layer by layer in strips of rows; the result must equal the whole image.

Exactness is checked with the TensorFlow backend (float32 everywhere); the default
backend's strips are checked against TensorFlow's whole image in test_backends.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import STYLES, sample_photo
from stylize.engine import images
from stylize.engine.backends import TensorFlowBackend
from stylize.engine.errors import CancelledError
from stylize.engine.strip_inference import (
    PASSES,
    Moments,
    StripLayer,
    StripRunner,
    Windows,
    spans,
)
from stylize.engine.style_engine import StyleEngine


@pytest.fixture(scope="module")
def tf_engine() -> StyleEngine:
    return StyleEngine(backend=TensorFlowBackend(reason="exactness test"))


@pytest.fixture(scope="module")
def vector(engine: StyleEngine) -> np.ndarray:
    style = images.decode((STYLES / "starry_night.jpg").read_bytes(), images.ImageLimits(), "style")
    return engine.style_vector(style)


def _stylize(
    engine: StyleEngine, pixels: images.Pixels, vector: np.ndarray, strips: int | None, **kw
):
    """Whole image when ``strips`` is None, else strips of that many rows."""
    whole, rows = engine.max_whole_pixels, engine.strip_rows
    engine.max_whole_pixels = 10**12 if strips is None else 0
    engine.strip_rows = strips or rows
    try:
        return engine.stylize(pixels, vector, **kw)
    finally:
        engine.max_whole_pixels, engine.strip_rows = whole, rows


@pytest.mark.parametrize(("size", "rows"), [((203, 157), 16), ((96, 260), 8), ((320, 64), 256)])
def test_strips_equal_the_whole_image(
    tf_engine: StyleEngine, vector: np.ndarray, size, rows: int
) -> None:
    pixels = images.Pixels(np.asarray(sample_photo(*size)), images.PixelMode.RGB)
    whole = _stylize(tf_engine, pixels, vector, None).array.astype(np.int16)
    stripped = _stylize(tf_engine, pixels, vector, rows).array.astype(np.int16)
    assert stripped.shape == whole.shape
    difference = np.abs(whole - stripped)
    assert difference.max() <= 1  # float rounding only: no seams
    assert difference.mean() < 0.01


def test_strips_equal_the_whole_image_at_16_bit(tf_engine: StyleEngine, vector: np.ndarray) -> None:
    """16-bit content runs the float pieces: float32 in and out, no 8-bit step, no seams."""
    rgb = np.asarray(sample_photo(203, 157)).astype(np.uint16) * 257
    pixels = images.Pixels(rgb, images.PixelMode.RGB)
    whole = _stylize(tf_engine, pixels, vector, None)
    stripped = _stylize(tf_engine, pixels, vector, 16)
    assert stripped.depth is images.Depth.U16
    assert np.abs(whole.array.astype(np.int64) - stripped.array).max() <= 4  # of 65535
    assert np.mean(stripped.array % 257 != 0) > 0.9  # not 8-bit levels


def test_strips_keep_alpha_and_report_progress(engine: StyleEngine, vector: np.ndarray) -> None:
    rgb = np.asarray(sample_photo(64, 96))
    alpha = np.tile(np.arange(64, dtype=np.uint8)[None, :, None] * 4, (96, 1, 1))
    pixels = images.Pixels(np.concatenate([rgb, alpha], axis=2), images.PixelMode.RGBA)
    fractions: list[float] = []
    out = _stylize(engine, pixels, vector, 16, progress=lambda p: fractions.append(p.fraction))
    np.testing.assert_array_equal(out.array[..., 3], alpha[..., 0])
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(fractions) == PASSES


def test_strips_stop_when_cancelled(engine: StyleEngine, vector: np.ndarray) -> None:
    pixels = images.Pixels(np.asarray(sample_photo(64, 128)), images.PixelMode.RGB)
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(CancelledError):
        _stylize(engine, pixels, vector, 16, cancelled=cancelled)


def test_moments_merge_exactly() -> None:
    values = np.random.default_rng(1).normal(3.0, 2.0, (37, 11, 4))
    moments = Moments()
    for start, stop in spans(37, 8):
        piece = values[start:stop]
        moments.add(piece.mean(axis=(0, 1)), (piece**2).mean(axis=(0, 1)), piece.shape[0] * 11)
    np.testing.assert_allclose(moments.mean, values.mean(axis=(0, 1)), rtol=1e-12)
    np.testing.assert_allclose(moments.m2 / moments.count, values.var(axis=(0, 1)), rtol=1e-12)
    gamma, beta = np.full(4, 2.0), np.full(4, 0.5)
    scale, shift = moments.normalisation(gamma, beta, 1e-5)
    normalised = values * scale + shift
    np.testing.assert_allclose(normalised.mean(axis=(0, 1)), beta, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=(0, 1)), gamma, rtol=1e-4)


@pytest.mark.parametrize("mode", ["reflect", "symmetric"])
@pytest.mark.parametrize("halo", [0, 2])
def test_strip_layers_hold_each_window_padded_as_the_whole_layer(mode: str, halo: int) -> None:
    """Rows written strip by strip land in every window that reads them, with the
    layer's own padding at its edges: each window equals a slice of np.pad's layer."""
    layer = np.random.default_rng(2).normal(size=(1, 3, 37, 5)).astype(np.float32)
    runner = StripRunner(None, None, rows=16)  # type: ignore[arg-type]
    windows = Windows(37, tuple(runner._strips(37, halo, 2)), 1, mode)  # 8-row cores
    stored = StripLayer(np.full(StripLayer.items(3, 5, windows), np.nan, np.float32), 3, 5, windows)
    for start, stop, _, _ in windows.strips:
        stored.write(start, layer[:, :, start:stop])
    padded = np.pad(layer, [(0, 0), (0, 0), (1, 1), (1, 1)], mode)
    for index, (_, _, first, last) in enumerate(windows.strips):
        np.testing.assert_array_equal(stored.window(index), padded[:, :, first : last + 2])
        assert stored.window(index).flags.c_contiguous


def test_spans_cover_every_row_once() -> None:
    assert list(spans(10, 4)) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValueError):
        StripRunner(None, None, rows=12)  # type: ignore[arg-type]


def test_a_job_larger_than_free_memory_is_refused(
    engine: StyleEngine, vector: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylize.engine import memory_budget
    from stylize.engine.errors import InsufficientMemoryError, TooLargeForMemoryError

    pixels = images.Pixels(np.asarray(sample_photo(200, 100)), images.PixelMode.RGB)
    # the smaller working set: where the whole image does not fit, strips are tried
    needed = memory_budget.network_bytes(200, 100, strips=True)
    monkeypatch.setattr(engine, "budget", memory_budget.MemoryBudget(needed - 1))
    with pytest.raises(TooLargeForMemoryError, match=r"largest image that fits is about 141x141"):
        engine.stylize(pixels, vector)
    budget = memory_budget.MemoryBudget(needed + 100)
    monkeypatch.setattr(engine, "budget", budget)
    with budget.reserve(200, "another job"), pytest.raises(InsufficientMemoryError):
        engine.stylize(pixels, vector)  # fits the budget, but not beside another job
    assert engine.stylize(pixels, vector).array.shape == (100, 200, 3)
    assert budget.reserved == 0  # released after the job


def test_deep_content_needs_more_memory_than_8_bit(
    engine: StyleEngine, vector: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget that holds the 8-bit image in strips refuses the same image at 16 bits."""
    from stylize.engine import memory_budget
    from stylize.engine.errors import TooLargeForMemoryError

    rgb = np.asarray(sample_photo(200, 100))
    eight_bit = memory_budget.network_bytes(200, 100, strips=True)
    monkeypatch.setattr(engine, "budget", memory_budget.MemoryBudget(eight_bit + 100))
    assert engine.stylize(images.Pixels(rgb, images.PixelMode.RGB), vector).depth is images.Depth.U8
    deep = images.Pixels(rgb.astype(np.uint16) * 257, images.PixelMode.RGB)
    with pytest.raises(TooLargeForMemoryError, match=r"largest image that fits is about"):
        engine.stylize(deep, vector)


def test_strips_are_used_when_the_whole_image_does_not_fit(
    engine: StyleEngine, vector: np.ndarray
) -> None:
    from stylize.engine import memory_budget

    pixels = images.Pixels(np.asarray(sample_photo(128, 96)), images.PixelMode.RGB)
    fits_strips_only = 128 * 96 * (memory_budget.STRIP_BYTES_PER_PIXEL + 10)
    budget, engine.budget = engine.budget, memory_budget.MemoryBudget(fits_strips_only)
    fractions: list[float] = []
    try:
        out = engine.stylize(pixels, vector, progress=lambda p: fractions.append(p.fraction))
    finally:
        engine.budget = budget
    assert len(fractions) == PASSES  # progress after each strip pass, not the 3 whole stages
    assert out.array.shape == (96, 128, 3)


def test_spare_memory_is_reused_then_returned() -> None:
    """A strip job's arena is kept for the next job, only while it fits, and not for long."""
    import time

    from stylize.engine.strip_inference import SpareMemory

    spare = SpareMemory(keep_seconds=0.2, blocks=2)
    first = spare.take(1000, np.dtype(np.float16))
    spare.give_back(first[:500])  # a view gives its whole block back
    again = spare.take(800, np.dtype(np.float16))
    assert again.base is first and again.size == 800
    assert spare.take(800, np.dtype(np.float16)).base is not first  # it is in use
    spare.give_back(again)
    assert spare.take(2000, np.dtype(np.float16)).base is not first  # too small
    assert spare.take(10, np.dtype(np.float32)).base is not first  # another dtype
    for _ in range(3):
        spare.give_back(np.empty(10, np.float16))
    assert spare.take(800, np.dtype(np.float16)).base is not first  # only the latest `blocks` kept
    spare.give_back(first)
    time.sleep(0.4)
    assert spare.take(800, np.dtype(np.float16)).base is not first  # released when idle


def test_strips_of_one_size_after_another_are_both_exact(
    tf_engine: StyleEngine, vector: np.ndarray
) -> None:
    """Reused arena memory carries nothing from the previous image into the next."""
    small = images.Pixels(np.asarray(sample_photo(96, 64)), images.PixelMode.RGB)
    large = images.Pixels(np.asarray(sample_photo(120, 88)), images.PixelMode.RGB)
    expected = _stylize(tf_engine, small, vector, None).array.astype(int)
    _stylize(tf_engine, large, vector, 16)
    got = _stylize(tf_engine, small, vector, 16).array.astype(int)
    assert np.abs(got - expected).max() <= 1


def test_concurrent_strip_jobs_match_one_at_a_time(engine: StyleEngine, vector: np.ndarray) -> None:
    """Two strip jobs at once on one engine: each pass releases its graph's scratch when
    its thread moves on, which must not disturb the other thread's pass of that graph."""
    import threading

    photos = [
        images.Pixels(np.asarray(sample_photo(160, 96 + 32 * i)), images.PixelMode.RGB)
        for i in range(2)
    ]
    expected = [_stylize(engine, photo, vector, 16).array for photo in photos]
    whole, rows = engine.max_whole_pixels, engine.strip_rows
    engine.max_whole_pixels, engine.strip_rows = 0, 16
    results: dict[int, np.ndarray] = {}
    try:
        threads = [
            threading.Thread(
                target=lambda i=i: results.__setitem__(i, engine.stylize(photos[i], vector).array)
            )
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        engine.max_whole_pixels, engine.strip_rows = whole, rows
    for i in range(2):
        np.testing.assert_array_equal(results[i], expected[i])

"""The optimisation engine end to end: real VGG19 weights, tiny images, few iterations."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from conftest import SAMPLES, STYLES
from PIL import Image
from stylize.engine.errors import CancelledError, InvalidInputError
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.optimization import method, optimizers, schedule
from stylize.engine.optimization.method import (
    OptimizationEngine,
    OptimizeOptions,
    OptimizeProgress,
)

# Small but structured: VGG19 needs 16 px to reach block5_conv1 at all.
FAST = OptimizeOptions(iterations=6, scales=(40,))


def _photo(path, width: int, height: int, mode: str = "RGB") -> Pixels:
    image = Image.open(path).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    pixel_mode = {"RGB": PixelMode.RGB, "L": PixelMode.GRAY}[mode]
    array = np.asarray(image.convert(mode))
    return Pixels(array=array if array.ndim == 3 else array[..., None], mode=pixel_mode)


@pytest.fixture(scope="module")
def optimizer_engine() -> OptimizationEngine:
    return OptimizationEngine()


@pytest.fixture(scope="module")
def content() -> Pixels:
    return _photo(SAMPLES / "chelsea.jpg", 40, 28)


@pytest.fixture(scope="module")
def starry() -> Pixels:
    return _photo(STYLES / "starry_night.jpg", 40, 32)


@pytest.fixture(scope="module")
def wave() -> Pixels:
    return _photo(STYLES / "great_wave.jpg", 40, 28)


def _collect() -> tuple[list[OptimizeProgress], Callable[[OptimizeProgress], None]]:
    events: list[OptimizeProgress] = []
    return events, events.append


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_total_loss_decreases(optimizer_engine, content, starry, optimizer: str) -> None:
    events, progress = _collect()
    result = optimizer_engine.run(
        content, [(starry, 1.0)], replace(FAST, optimizer=optimizer), progress
    )
    assert [event.iteration for event in events] == list(range(1, 7))
    totals = [event.losses.total for event in events]
    assert totals[-1] < 0.8 * totals[0]
    for event in events:
        terms = event.losses
        assert terms.total == pytest.approx(terms.content + terms.style + terms.tv, rel=1e-5)
    assert (result.width, result.height, result.mode) == (40, 28, PixelMode.RGB)
    assert np.abs(result.array.astype(int) - content.array).mean() > 2  # it did change


def test_same_seed_same_output_other_seed_differs(optimizer_engine, content, starry) -> None:
    noise = replace(FAST, init="noise", iterations=3)
    first = optimizer_engine.run(content, [(starry, 1.0)], replace(noise, seed=7))
    again = optimizer_engine.run(content, [(starry, 1.0)], replace(noise, seed=7))
    other = optimizer_engine.run(content, [(starry, 1.0)], replace(noise, seed=8))
    np.testing.assert_array_equal(first.array, again.array)
    assert np.abs(first.array.astype(int) - other.array).mean() > 5


def test_cancel_stops_within_one_iteration(optimizer_engine, content, starry) -> None:
    events, progress = _collect()
    with pytest.raises(CancelledError):
        optimizer_engine.run(
            content,
            [(starry, 1.0)],
            replace(FAST, iterations=50),
            progress,
            cancelled=lambda: len(events) >= 2,
        )
    assert len(events) == 2  # asked after iteration 2's report, stopped before reporting 3


def test_finish_now_returns_the_best_image_so_far(optimizer_engine, content, starry) -> None:
    events, progress = _collect()
    options = replace(FAST, iterations=40, scales=(24, 40), preview_every=1)
    result = optimizer_engine.run(
        content, [(starry, 1.0)], options, progress, finish=lambda: len(events) >= 4
    )
    assert len(events) == 4 and {event.scale_index for event in events} == {0}
    best = min(events, key=lambda event: event.losses.total)
    assert best.preview is not None
    np.testing.assert_array_equal(result.array, best.preview.array)
    assert (result.width, result.height) == (40, 28)  # upsampled from the coarse scale


def test_max_time_stops_with_a_result(optimizer_engine, content, starry) -> None:
    events, progress = _collect()
    options = replace(FAST, iterations=500, max_seconds=1e-6)
    result = optimizer_engine.run(content, [(starry, 1.0)], options, progress)
    assert len(events) == 1 and (result.width, result.height) == (40, 28)


def test_a_style_weighted_zero_changes_nothing(optimizer_engine, content, starry, wave) -> None:
    options = replace(FAST, iterations=3)
    one = optimizer_engine.run(content, [(starry, 1.0)], options)
    with_zero = optimizer_engine.run(content, [(starry, 1.0), (wave, 0.0)], options)
    relative = optimizer_engine.run(content, [(starry, 2.5)], options)
    mixed = optimizer_engine.run(content, [(starry, 1.0), (wave, 1.0)], options)
    np.testing.assert_array_equal(one.array, with_zero.array)
    np.testing.assert_array_equal(one.array, relative.array)  # blend weights are relative
    assert np.abs(mixed.array.astype(int) - one.array).mean() > 1


def test_multi_scale_keeps_size_and_alpha(optimizer_engine, starry) -> None:
    rgb = _photo(SAMPLES / "astronaut.jpg", 45, 33).array
    alpha = np.tile(np.linspace(0, 255, 45, dtype=np.uint8), (33, 1))[..., None]
    rgba = Pixels(np.concatenate([rgb, alpha], axis=2), PixelMode.RGBA)
    events, progress = _collect()
    options = replace(FAST, iterations=4, scales=(20, 45))
    result = optimizer_engine.run(rgba, [(starry, 1.0)], options, progress)
    scales = [(event.scale_index, event.width, event.height) for event in events]
    assert scales == [(0, 20, 16)] * 3 + [(1, 45, 33)]  # the finer scale gets half
    assert result.mode is PixelMode.RGBA and result.array.shape == (33, 45, 4)
    np.testing.assert_array_equal(result.array[..., 3:], alpha)


def test_sixteen_bit_content_is_optimised_at_8_bits_and_returned_at_16(
    optimizer_engine, content, starry
) -> None:
    """Deep content is accepted: optimised as its 8-bit version, returned in its depth with
    its alpha at full precision (README: Precision)."""
    alpha = np.tile(np.arange(40, dtype=np.uint16) * 1601 + 7, (28, 1))[..., None]
    deep = Pixels(np.concatenate([content.array.astype(np.uint16) * 257, alpha], 2), PixelMode.RGBA)
    result = optimizer_engine.run(deep, [(starry, 1.0)], replace(FAST, iterations=2))
    assert result.array.dtype == np.uint16 and result.mode is PixelMode.RGBA
    np.testing.assert_array_equal(result.array[..., 3:], alpha)
    eight = optimizer_engine.run(
        Pixels(np.concatenate([content.array, alpha >> 8], 2).astype(np.uint8), PixelMode.RGBA),
        [(starry, 1.0)],
        replace(FAST, iterations=2),
    )
    np.testing.assert_array_equal(
        result.array[..., :3], eight.array[..., :3].astype(np.uint16) * 257
    )


def test_gray_stays_gray_with_previews_n_apart(optimizer_engine, starry) -> None:
    gray = _photo(SAMPLES / "chelsea.jpg", 40, 28, mode="L")
    events, progress = _collect()
    options = replace(FAST, iterations=7, preview_every=3, preserve_colors=True)
    result = optimizer_engine.run(gray, [(starry, 1.0)], options, progress)
    assert result.mode is PixelMode.GRAY and result.array.shape == (28, 40, 1)
    previews = [(event.iteration, event.preview) for event in events if event.preview]
    assert [iteration for iteration, _ in previews] == [3, 6]
    for _, preview in previews:
        assert preview.mode is PixelMode.GRAY and preview.array.shape == (28, 40, 1)


def test_preserve_colors_keeps_the_content_chroma(optimizer_engine, content, starry) -> None:
    options = replace(FAST, iterations=4)
    plain = optimizer_engine.run(content, [(starry, 1.0)], options)
    kept = optimizer_engine.run(content, [(starry, 1.0)], replace(options, preserve_colors=True))

    def chroma(pixels: Pixels) -> np.ndarray:
        return np.asarray(pixels.to_pil().convert("YCbCr"))[..., 1:].astype(int)

    assert (
        np.abs(chroma(kept) - chroma(content)).mean()
        < np.abs(chroma(plain) - chroma(content)).mean()
    )


def test_init_image_is_the_starting_point(optimizer_engine, content, starry, wave) -> None:
    events, progress = _collect()
    options = replace(FAST, iterations=2, init="image", optimizer="adam", preview_every=1)
    optimizer_engine.run(content, [(starry, 1.0)], options, progress, init_image=wave)
    first = events[0].preview  # Adam reports the image it measured: the start
    assert first is not None
    assert np.abs(first.array.astype(int) - wave.array).mean() < 3


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iterations": 0}, "iterations must be 1..100,000, got 0"),
        ({"iterations": -5}, "iterations must be"),
        ({"iterations": 10**9}, "iterations must be"),
        ({"optimizer": "sgd"}, "unknown optimizer 'sgd'; choose one of lbfgs, adam"),
        ({"content_weight": math.nan}, "content_weight must be a finite number >= 0, got nan"),
        ({"style_weight": -1.0}, "style_weight must be"),
        ({"tv_weight": math.inf}, "tv_weight must be"),
        ({"content_layers": ("block6_conv1",)}, "unknown VGG19 layer.*'block6_conv1'.*valid:"),
        ({"style_layers": (("block1_conv1", 1.0), ("conv9", 1.0))}, "unknown VGG19 layer.*conv9"),
        ({"style_layers": (("block1_conv1", math.nan),)}, "style layer block1_conv1 weight"),
        ({"style_layers": ()}, "style loss needs at least one VGG19 layer"),
        ({"init": "zeros"}, "unknown init 'zeros'"),
        ({"style_scale": 0.0}, "style_scale must be in"),
        ({"learning_rate": -1.0}, "learning_rate must be > 0"),
        ({"preview_every": -1}, "preview_every must be >= 0"),
        ({"scales": (40, 24)}, "scales must increase"),
        ({"scales": (16, 24, 40), "iterations": 2}, "cannot cover 3 scales"),
        ({"scales": (8, 24)}, "scales .* must be at least 16"),
        ({"style_weight": 3.4e38}, "style_weight must be at most 1e\\+12"),
        ({"content_weight": 3.4e38}, "content_weight must be at most"),
        ({"style_layers": (("block1_conv1", 1e13),)}, "style layer block1_conv1 weight"),
        ({"content_weight": 0.0, "style_weight": 0.0}, "nothing to optimise"),
    ],
)
def test_bad_options_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        OptimizeOptions(**changes)


@pytest.mark.parametrize(
    ("options", "styles", "message"),
    [
        (replace(FAST, scales=(24, 400)), 1.0, r"must lie in 16\.\.40 for a 40x28"),
        (replace(FAST, init="image"), 1.0, "init image is needed"),
        (FAST, math.nan, "style image 1 weight must be a finite number"),
        (FAST, 0.0, "at least one style image needs a weight above 0"),
    ],
)
def test_bad_run_arguments_are_refused(
    optimizer_engine, content, starry, options: OptimizeOptions, styles: float, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        optimizer_engine.run(content, [(starry, styles)], options)


def test_no_style_is_refused(optimizer_engine, content) -> None:
    with pytest.raises(InvalidInputError, match="at least one style image"):
        optimizer_engine.run(content, [], FAST)


def test_float32_and_bfloat16_agree(optimizer_engine, content, starry) -> None:
    """bfloat16 (the default where the CPU has it) measures nearly the float32 loss."""
    first: dict[str, float] = {}
    options = replace(FAST, iterations=1, optimizer="adam")
    other = "float32" if optimizer_engine.vgg.precision == "bfloat16" else "bfloat16"
    engines = {
        optimizer_engine.vgg.precision: optimizer_engine,
        other: OptimizationEngine(precision=other),
    }
    for precision, engine in engines.items():
        events, progress = _collect()
        assert engine.vgg.precision == precision
        engine.run(content, [(starry, 1.0)], options, progress)
        first[precision] = events[0].losses.total
    assert first["bfloat16"] == pytest.approx(first["float32"], rel=0.02)


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown precision 'fp8'"):
        OptimizationEngine(precision="fp8")


def test_a_pooling_layer_deeper_than_the_image_is_refused(
    optimizer_engine, content, starry
) -> None:
    """block5_pool on a 16 px scale: oneDNN's max pooling aborted (AbortedError, issue 18)."""
    options = replace(FAST, scales=(16,), style_layers=(("block5_pool", 1.0),))
    with pytest.raises(InvalidInputError, match="block5_pool"):
        optimizer_engine.run(content, [(starry, 1.0)], options)


@pytest.mark.parametrize(
    ("iterations", "scales", "expected"),
    [(300, 4, (160, 80, 40, 20)), (500, 2, (334, 166)), (4, 2, (3, 1)), (5, 4, (2, 1, 1, 1)),
     (9, 8, (2, 1, 1, 1, 1, 1, 1, 1)), (7, 1, (7,))],
)  # fmt: skip
def test_each_finer_scale_gets_half_the_iterations(iterations, scales, expected) -> None:
    assert schedule.split_iterations(iterations, scales) == expected


def test_scales_above_the_lbfgs_limit_are_refined_by_adam(
    optimizer_engine, content, starry, monkeypatch
) -> None:
    """L-BFGS's history does not fit at print size: the large scales run Adam, with the
    refining step where it takes over from L-BFGS, with the step asked for otherwise."""
    used: list[tuple[str, float]] = []
    real = method.make_optimizer
    monkeypatch.setattr(optimizers, "LBFGS_MAX_PIXELS", 24 * 17)
    monkeypatch.setattr(
        method, "make_optimizer", lambda name, rate: used.append((name, rate)) or real(name, rate)
    )
    optimizer_engine.run(content, [(starry, 1.0)], replace(FAST, iterations=3, scales=(24, 40)))
    assert used == [("lbfgs", 10.0), ("adam", optimizers.REFINE_LEARNING_RATE)]
    adam = replace(FAST, iterations=2, optimizer="adam", learning_rate=4.0)
    optimizer_engine.run(content, [(starry, 1.0)], adam)
    assert used[-1] == ("adam", 4.0)

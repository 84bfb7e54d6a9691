"""Regions in the optimisation method (issue 17): guided Gram matrices (guidance.py).

Real VGG19 weights, images of at most 96 px, at most 10 iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, encode
from PIL import Image
from stylize.engine.errors import CancelledError, InvalidInputError
from stylize.engine.images import Depth, ImageLimits, PixelMode, Pixels
from stylize.engine.optimization import guidance, losses, memory, schedule
from stylize.engine.optimization.guidance import StyleMasks
from stylize.engine.optimization.method import (
    OptimizationEngine,
    OptimizeOptions,
    OptimizeProgress,
)
from stylize.engine.optimization.objective import Weights
from stylize.engine.style_cache import StyleVectorCache
from stylize.jobs.job import EncodedSource, RawSource, StylizeJob, WeightedStyle
from stylize.jobs.method import Controls, Method
from stylize.jobs.methods.optimize import OPTIMIZE, OptimizeMethod, OptimizeSettings
from stylize.jobs.resources import Engines
from stylize.jobs.run import check_job, run_job
from stylize.jobs.style_library import StyleLibrary

OPTIONS = OptimizeOptions(iterations=10, scales=(64,))
RED, BLUE = np.array([235.0, 115.0, 35.0]), np.array([150.4, 159.3, 230.5])  # the styles' means


def _photo(width: int, height: int) -> Pixels:
    image = Image.open(SAMPLES / "chelsea.jpg").convert("RGB")
    resized = image.resize((width, height), Image.Resampling.LANCZOS)
    return Pixels(np.asarray(resized), PixelMode.RGB)


def _stripes(size: int = 48) -> np.ndarray:
    """Red and yellow vertical stripes, 4 px wide (mean colour RED)."""
    rgb = np.zeros((size, size, 3), np.uint8)
    x = np.arange(size)
    rgb[:, (x // 4) % 2 == 0] = (220, 30, 30)
    rgb[:, (x // 4) % 2 == 1] = (250, 200, 40)
    return rgb


def _dots(size: int = 48) -> np.ndarray:
    """Blue dots on white, 8 px apart (mean colour BLUE)."""
    rgb = np.full((size, size, 3), 255, np.uint8)
    y, x = np.mgrid[:size, :size]
    dot = (x % 8 - 4) ** 2 + (y % 8 - 4) ** 2 < 6
    rgb[dot] = (20, 40, 200)
    rgb[dot & ((y // 8) % 2 == 0)] = (20, 40, 200)
    return rgb


def _left(width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[:, : width // 2] = 1
    return mask


@pytest.fixture(scope="module")
def optimizer_engine() -> OptimizationEngine:
    return OptimizationEngine()


@pytest.fixture(scope="module")
def content() -> Pixels:
    return _photo(64, 48)


@pytest.fixture(scope="module")
def red() -> Pixels:
    return Pixels(_stripes(), PixelMode.RGB)


@pytest.fixture(scope="module")
def blue() -> Pixels:
    return Pixels(_dots(), PixelMode.RGB)


def _mean(rgb: np.ndarray) -> np.ndarray:
    return rgb.reshape(-1, 3).astype(float).mean(axis=0)


def _closer_to(rgb: np.ndarray, own: np.ndarray, other: np.ndarray) -> bool:
    mean = _mean(rgb)
    return bool(np.linalg.norm(mean - own) < np.linalg.norm(mean - other))


# -- the pieces ----------------------------------------------------------------------------


def test_a_weighted_gram_with_a_mask_of_ones_is_the_gram() -> None:
    features = tf.random.stateless_normal((1, 6, 5, 4), seed=(1, 2))
    masks = tf.stack([tf.ones((6, 5)), tf.zeros((6, 5))])
    grams = losses.weighted_gram_matrices(features, masks)
    np.testing.assert_allclose(grams[0], losses.gram_matrix(features), rtol=1e-5, atol=1e-6)
    assert not np.isnan(grams[1]).any()  # an empty mask gives zeros, not NaN


def test_a_hard_mask_gives_the_gram_of_its_pixels_alone() -> None:
    features = tf.random.stateless_normal((1, 6, 8, 4), seed=(3, 4))
    mask = _left(8, 6)
    gram = losses.weighted_gram_matrices(features, tf.constant(mask[None]))[0]
    np.testing.assert_allclose(gram, losses.gram_matrix(features[:, :, :4]), rtol=1e-5)


def test_masks_at_a_layer_follow_vgg_pooling_on_odd_sizes(optimizer_engine) -> None:
    objective = optimizer_engine.objective(OPTIONS)
    content = _photo(45, 33).array
    weights = np.stack([_left(45, 33), 1 - _left(45, 33)])
    targets = objective.guided_targets(content, [_stripes(), _dots()], [None, None], weights)
    maps = optimizer_engine.vgg.features(tf.constant(content[None], tf.float32), objective._layers)
    for layer, masks in targets.masks.items():
        assert masks.shape[1:] == maps[layer].shape[1:3], layer
        assert masks.shape[0] == 2 and targets.grams[layer].shape[0] == 2
        np.testing.assert_allclose(np.sum(targets.shares[layer]), 1.0, rtol=1e-5)


def test_the_guided_loss_with_one_mask_of_ones_is_the_loss_without(optimizer_engine) -> None:
    objective = optimizer_engine.objective(OPTIONS)
    content, style = _photo(40, 28).array, _stripes()
    weights = Weights(5.0, 100.0, 390.0, OPTIONS.style_layers)
    plain = objective.evaluate(objective.targets(content, [(style, 1.0)]), weights)
    ones = np.ones((1, 28, 40), np.float32)
    guided = objective.evaluate(objective.guided_targets(content, [style], [None], ones), weights)
    image = tf.constant(np.clip(content + 20.0, 0, 255)[None], tf.float32)
    (plain_terms, plain_gradient), (guided_terms, guided_gradient) = plain(image), guided(image)
    np.testing.assert_allclose(guided_terms["style"], plain_terms["style"], rtol=1e-4)
    scale = float(np.abs(plain_gradient).max())  # bfloat16 convolutions round in steps of 2^-8
    np.testing.assert_allclose(guided_gradient, plain_gradient, atol=5e-3 * scale)


# -- the engine ----------------------------------------------------------------------------


def test_a_region_of_ones_is_the_same_as_none(optimizer_engine, content, red, blue) -> None:
    options = replace(OPTIONS, iterations=3)
    plain = optimizer_engine.run(content, [(red, 1.0)], options)
    ones = StyleMasks(np.ones((48, 64), np.float32), np.ones((12, 12), np.float32))
    masked = optimizer_engine.run(content, [(red, 1.0)], options, masks=[ones])
    np.testing.assert_array_equal(masked.array, plain.array)
    # Constant regions are today's weighted mix (w_i * c_i), bit for bit.
    mixed = optimizer_engine.run(content, [(red, 0.5), (blue, 1.0)], options)
    half = StyleMasks(np.full((24, 32), 0.5, np.float32))
    constant = optimizer_engine.run(content, [(red, 1.0), (blue, 1.0)], options, masks=[half, None])
    np.testing.assert_array_equal(constant.array, mixed.array)


def test_two_regions_paint_each_side_in_its_own_style(optimizer_engine, content, red, blue) -> None:
    left = _left(64, 48)
    result = optimizer_engine.run(
        content, [(red, 1.0), (blue, 1.0)], OPTIONS, masks=[StyleMasks(left), StyleMasks(1 - left)]
    ).array
    # Far from the border (8 px either side), each side's colours are its style's.
    assert _closer_to(result[:, :24], RED, BLUE)
    assert _closer_to(result[:, 40:], BLUE, RED)
    assert _mean(result[:, 40:])[2] - _mean(result[:, :24])[2] > 25  # blue channel
    swapped = optimizer_engine.run(
        content, [(red, 1.0), (blue, 1.0)], OPTIONS, masks=[StyleMasks(1 - left), StyleMasks(left)]
    ).array
    assert _closer_to(swapped[:, :24], BLUE, RED) and _closer_to(swapped[:, 40:], RED, BLUE)


def test_where_no_region_covers_the_style_does_not_act(optimizer_engine, content, red) -> None:
    left = _left(64, 48)
    result = optimizer_engine.run(content, [(red, 1.0)], OPTIONS, masks=[StyleMasks(left)]).array
    change = np.abs(result.astype(float) - content.array).mean(axis=(0, 2))
    assert change[40:].mean() < 0.5 * change[:24].mean()  # the right side stays the photo


def test_a_style_region_takes_the_style_from_that_part(optimizer_engine, content) -> None:
    both = Pixels(np.concatenate([_stripes(), _dots()], axis=1), PixelMode.RGB)  # 96 x 48
    half = _left(96, 48)
    from_red = optimizer_engine.run(content, [(both, 1.0)], OPTIONS, masks=[StyleMasks(None, half)])
    from_blue = optimizer_engine.run(
        content, [(both, 1.0)], OPTIONS, masks=[StyleMasks(None, 1 - half)]
    )
    assert _closer_to(from_red.array, RED, BLUE)
    assert _closer_to(from_blue.array, BLUE, RED)
    assert _mean(from_blue.array)[2] - _mean(from_red.array)[2] > 25


def _nan() -> np.ndarray:
    mask = np.ones((48, 64), np.float32)
    mask[3, 3] = np.nan
    return mask


@pytest.mark.parametrize(
    ("masks", "field", "message"),
    [
        ([StyleMasks(_nan()), None], "styles[0].region", "NaN"),
        ([StyleMasks(np.ones((48, 48), np.float32)), None], "styles[0].region", "not the shape"),
        ([StyleMasks(np.zeros((48, 64), np.float32)), None], "styles[0].region", "empty"),
        ([StyleMasks(np.full((48, 64), 2, np.float32)), None], "styles[0].region", "outside 0..1"),
        ([StyleMasks(np.ones((48, 64, 3), np.float32)), None], "styles[0].region", "greyscale"),
        ([None, StyleMasks(None, np.zeros((48, 48), np.float32))], "styles[1].style_region",
         "empty"),
        ([None, StyleMasks(None, np.ones((48, 96), np.float32))], "styles[1].style_region",
         "not the shape"),
        ([None] * 3, "styles", "3 style masks for 2 styles"),
    ],
)  # fmt: skip
def test_bad_masks_are_refused_naming_the_field(
    optimizer_engine, content, red, blue, masks, field: str, message: str
) -> None:
    styles = [(red, 1.0), (blue, 1.0)]
    with pytest.raises(InvalidInputError, match=message) as refused:
        optimizer_engine.run(content, styles, OPTIONS, masks=masks)
    assert refused.value.field == field


def _collect() -> tuple[list[OptimizeProgress], Callable[[OptimizeProgress], None]]:
    events: list[OptimizeProgress] = []
    return events, events.append


def test_cancel_and_finish_work_with_regions(optimizer_engine, content, red, blue) -> None:
    left = _left(64, 48)
    styles, masks = [(red, 1.0), (blue, 1.0)], [StyleMasks(left), StyleMasks(1 - left)]
    events, progress = _collect()
    with pytest.raises(CancelledError):
        optimizer_engine.run(
            content, styles, replace(OPTIONS, iterations=50), progress,
            cancelled=lambda: len(events) >= 2, masks=masks,
        )  # fmt: skip
    assert len(events) == 2
    events, progress = _collect()
    options = replace(OPTIONS, iterations=40, scales=(32, 64), preview_every=1)
    result = optimizer_engine.run(
        content, styles, options, progress, finish=lambda: len(events) >= 3, masks=masks
    )
    assert len(events) == 3 and {event.scale_index for event in events} == {0}  # 32 px scale
    best = min(events, key=lambda event: event.losses.total)
    assert best.preview is not None
    np.testing.assert_array_equal(result.array, best.preview.array)


def test_regions_work_across_scales(optimizer_engine, content, red, blue) -> None:
    left = _left(16, 12)  # any size with the content's aspect: resampled per scale
    events, progress = _collect()
    result = optimizer_engine.run(
        content, [(red, 1.0), (blue, 1.0)], replace(OPTIONS, scales=(32, 64)), progress,
        masks=[StyleMasks(left), StyleMasks(1 - left)],
    ).array  # fmt: skip
    coarse, fine = schedule.split_iterations(OPTIONS.iterations, 2)
    assert [(e.width, e.height) for e in events] == [(32, 24)] * coarse + [(64, 48)] * fine
    assert _closer_to(result[:, :24], RED, BLUE) and _closer_to(result[:, 40:], BLUE, RED)


# -- the estimate --------------------------------------------------------------------------


def test_the_estimate_counts_the_regions() -> None:
    plain = memory.run_bytes((256, 256), [(256, 256)] * 2, "lbfgs")
    masks = memory.run_bytes((256, 256), [(256, 256)] * 2, "lbfgs", masks=[(256, 256)] * 2)
    guided = memory.run_bytes(
        (256, 256), [(256, 256)] * 2, "lbfgs", masks=[(256, 256)] * 2, guided=2
    )
    assert plain < masks < guided
    assert guided - masks == 2 * 256 * 256 * memory.GUIDED_BYTES_PER_PIXEL


def test_guidance_folds_constant_regions_into_the_weights() -> None:
    half = np.full((4, 4), 0.5, np.float32)
    plan = guidance.plan([1.0, 2.0, 0.0], [StyleMasks(half), None, None], (4, 4), [(4, 4)] * 3)
    assert plan.regions is None and plan.weights == (0.5, 2.0)  # the weight-0 style dropped
    left = _left(4, 4)
    plan = guidance.plan([1.0, 3.0], [StyleMasks(left), None], (4, 4), [(4, 4)] * 2)
    weights = plan.style_weights(4, 4)
    np.testing.assert_allclose(weights[:, 0, 0], [0.25, 0.75])  # w_i * m_i normalised
    np.testing.assert_allclose(weights[:, 0, 3], [0.0, 1.0])


# -- the job core --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engines(engine, optimizer_engine) -> Engines:
    methods: dict[str, Method] = {OPTIMIZE: OptimizeMethod(lambda: optimizer_engine)}
    return Engines(engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), methods)


def _grey(mask: np.ndarray) -> EncodedSource:
    return EncodedSource(encode(Image.fromarray(np.round(mask * 255).astype(np.uint8), "L")))


def _job(regions: list, style_regions: list | None = None, **changes) -> StylizeJob:
    content = EncodedSource(encode(Image.fromarray(_photo(64, 48).array)))
    sources = [EncodedSource(encode(Image.fromarray(rgb))) for rgb in (_stripes(), _dots())]
    style_regions = style_regions or [None] * len(sources)
    styles = tuple(
        WeightedStyle(source, 1.0, region=region, style_region=style_region)
        for source, region, style_region in zip(sources, regions, style_regions, strict=True)
    )
    settings = OptimizeSettings(options=OPTIONS, style_scale_set=True)
    return replace(StylizeJob(content, styles, method=OPTIMIZE, settings=settings), **changes)


def test_the_job_core_paints_regions_from_encoded_and_raw_masks(engines) -> None:
    left = _left(64, 48)
    right = RawSource(
        np.round((1 - left) * 65535).astype("<u2").tobytes(), 64, 48, PixelMode.GRAY,
        Depth.U16,
    )  # fmt: skip
    job = _job([_grey(left), right])
    check_job(engines, job)
    result = run_job(engines, job, lambda progress: None, Controls(lambda: False))
    rgb = result.pixels.rgb()
    assert rgb.shape == (48, 64, 3) and result.iterations == 10
    assert _closer_to(rgb[:, :24], RED, BLUE) and _closer_to(rgb[:, 40:], BLUE, RED)


@pytest.mark.parametrize(
    ("job", "field"),
    [
        (lambda: _job([_grey(np.ones((48, 48))), None]), "styles[0].region"),
        (lambda: _job([None, _grey(np.zeros((48, 64)))]), "styles[1].region"),
        (lambda: _job([None, None], [None, _grey(np.ones((10, 20)))]), "styles[1].style_region"),
        (
            lambda: _job([EncodedSource(encode(Image.new("RGB", (64, 48)))), None]),
            "styles[0].region",
        ),
        (lambda: _job([EncodedSource(b"not an image"), None]), "styles[0].region"),
    ],
)
def test_the_job_core_refuses_bad_masks_naming_the_field(engines, job, field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        run_job(engines, job(), lambda progress: None, Controls(lambda: False))
    assert refused.value.field == field


def test_a_strength_map_is_refused_for_the_optimisation(engines) -> None:
    job = _job([None, None], strength_map=_grey(np.ones((48, 64))))
    with pytest.raises(InvalidInputError, match="strength map applies to the fast method") as no:
        check_job(engines, job)
    assert no.value.field == "strength_map"

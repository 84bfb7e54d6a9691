"""The loss terms and optimisers of the optimisation method, on tensors small enough to
check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from stylize.engine.optimization import losses
from stylize.engine.optimization.optimizers import Adam, Lbfgs, Step

# One image row of two positions with two channels: F = [[1, 2], [3, 4]] (positions x channels).
FEATURES = tf.constant([[[[1.0, 2.0], [3.0, 4.0]]]])


def test_content_loss_is_the_mean_squared_difference() -> None:
    target = tf.constant([[[[1.0, 0.0], [0.0, 2.0]]]])
    # differences 0, 2, 3, 2 -> squares 0, 4, 9, 4 -> mean 17 / 4
    assert float(losses.content_loss(FEATURES, target)) == pytest.approx(4.25)


def test_gram_of_a_known_tensor() -> None:
    # F^T F = [[1*1 + 3*3, 1*2 + 3*4], [2*1 + 4*3, 2*2 + 4*4]] = [[10, 14], [14, 20]],
    # divided by h * w * c = 1 * 2 * 2 = 4.
    np.testing.assert_allclose(
        losses.gram_matrix(FEATURES).numpy(), [[2.5, 3.5], [3.5, 5.0]], rtol=1e-6
    )


def test_style_loss_weights_each_layer() -> None:
    zeros = tf.zeros((2, 2))
    # Gram entries 2.5, 3.5, 3.5, 5 -> squares 6.25, 12.25, 12.25, 25 -> mean 13.9375.
    assert float(losses.style_layer_loss(FEATURES, zeros)) == pytest.approx(13.9375)
    doubled = 2.0 * FEATURES  # Gram x 4, squared difference x 16
    value = losses.style_loss(
        {"a": FEATURES, "b": doubled}, {"a": zeros, "b": zeros}, {"a": 2.0, "b": 0.5}
    )
    assert float(value) == pytest.approx(2.0 * 13.9375 + 0.5 * 16 * 13.9375)


def test_style_loss_is_zero_at_the_target_gram() -> None:
    target = losses.gram_matrix(FEATURES)
    assert float(losses.style_loss({"a": FEATURES}, {"a": target}, {"a": 1.0})) == 0.0


def test_total_variation_of_a_known_image() -> None:
    # 3x3 single-channel image; the mean runs over the 2x2 top-left positions.
    image = tf.constant([[0.0, 1.0, 3.0], [2.0, 2.0, 2.0], [5.0, 5.0, 9.0]])[None, ..., None]
    # position (0,0): dx 1, dy 2 -> 1 + 4;  (0,1): dx 2, dy 1 -> 4 + 1
    # position (1,0): dx 0, dy 3 -> 0 + 9;  (1,1): dx 0, dy 3 -> 0 + 9;  mean 28 / 4
    assert float(losses.total_variation_loss(image)) == pytest.approx(7.0)
    assert float(losses.total_variation_loss(tf.fill((1, 4, 5, 3), 7.0))) == 0.0


def _keep(steps: list[Step]):
    def on_step(step: Step) -> bool:
        steps.append(step)
        return True

    return on_step


def _power_to(target: np.ndarray, power: int = 4):
    """``sum((x - target)^power)``: minimum at ``target``, partly outside the pixel range;
    a quartic, so that L-BFGS needs many iterations (a quadratic it solves in two)."""
    goal = tf.constant(target[None], tf.float32)

    def evaluate(image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            total = tf.reduce_sum((image - goal) ** power) * 1e-6
        zero = tf.constant(0.0)
        return {"content": total, "style": zero, "tv": zero, "total": total}, tape.gradient(
            total, image
        )

    return evaluate


@pytest.mark.parametrize("optimizer", [Lbfgs(), Adam(learning_rate=20.0)], ids=["lbfgs", "adam"])
def test_pixels_stay_in_range_and_loss_falls(optimizer: Lbfgs | Adam) -> None:
    target = np.array([[[-100.0, 128.0, 400.0], [30.0, 300.0, -5.0]]], np.float32)
    steps: list[Step] = []
    optimizer.run(_power_to(target), np.full(target.shape, 100.0, np.float32), 40, _keep(steps))
    assert len(steps) >= 5
    for step in steps:
        assert step.image.min() >= 0.0 and step.image.max() <= 255.0
    assert steps[-1].losses.total < steps[0].losses.total
    if isinstance(optimizer, Lbfgs):  # the bounds are active where the target lies outside
        np.testing.assert_allclose(steps[-1].image, np.clip(target, 0, 255), atol=5.0)
        assert steps[-1].image[0, 0, 2] == 255.0 and steps[-1].image[0, 0, 0] == 0.0


@pytest.mark.parametrize("optimizer", [Lbfgs(), Adam()], ids=["lbfgs", "adam"])
def test_on_step_false_stops_at_once(optimizer: Lbfgs | Adam) -> None:
    seen: list[int] = []

    def on_step(step: Step) -> bool:
        seen.append(step.iteration)
        return step.iteration < 3

    start = np.full((2, 2, 3), 10.0, np.float32)
    target = np.arange(12, dtype=np.float32).reshape(2, 2, 3) * 20
    optimizer.run(_power_to(target), start, 50, on_step)
    assert seen == [1, 2, 3]


def _style_gradient(features: tf.Tensor, target: tf.Tensor, gram=losses.gram_matrix):
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_mean(tf.square(gram(features) - target))
    return loss, tape.gradient(loss, features)


def _plain_gram(features: tf.Tensor) -> tf.Tensor:
    """The Gram matrix as TensorFlow differentiates it by itself."""
    matrix = tf.reshape(features, (-1, features.shape[-1]))
    return tf.matmul(matrix, matrix, transpose_a=True) / float(matrix.shape[0] * matrix.shape[1])


def test_the_gram_gradient_is_the_products_gradient() -> None:
    features = tf.random.stateless_normal((1, 5, 4, 3), seed=(5, 6))
    target = tf.random.stateless_normal((3, 3), seed=(7, 8))
    loss, gradient = _style_gradient(features, target)
    plain_loss, plain_gradient = _style_gradient(features, target, _plain_gram)
    assert float(loss) == pytest.approx(float(plain_loss), rel=1e-6)
    np.testing.assert_allclose(gradient, plain_gradient, rtol=1e-5, atol=1e-7)


def test_bfloat16_features_give_a_float32_gram_and_a_bfloat16_gradient() -> None:
    """No float32 copy of the maps is kept for the gradient: it comes in their precision,
    within bfloat16's rounding of the float32 gradient."""
    features = tf.cast(tf.random.stateless_normal((1, 6, 5, 4), seed=(1, 9)), tf.bfloat16)
    target = tf.random.stateless_normal((4, 4), seed=(2, 9))
    wide = tf.cast(features, tf.float32)
    assert losses.gram_matrix(features).dtype == tf.float32
    np.testing.assert_allclose(losses.gram_matrix(features), _plain_gram(wide), rtol=1e-6)
    _, gradient = _style_gradient(features, target)
    _, wide_gradient = _style_gradient(wide, target)
    assert gradient.dtype == tf.bfloat16
    scale = float(tf.reduce_max(tf.abs(wide_gradient)))
    np.testing.assert_allclose(tf.cast(gradient, tf.float32), wide_gradient, atol=1e-2 * scale)

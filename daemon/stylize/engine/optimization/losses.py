"""The loss terms of Gatys et al. (2015/2016), normalised as in neural-style (Johnson 2015).

Every term is a mean, not a sum, so its size does not grow with the image: the weights
mean the same thing at every scale of the coarse-to-fine schedule. Feature maps are
``[1, h, w, c]`` in VGG19's precision (float32 or bfloat16), the losses float32; images
are RGB ``[1, H, W, 3]`` in 0..255.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of feature maps.

    Gatys et al. 2016 eq. 1 is ``1/2 * sum((F - P)^2)``; neural-style's ContentLoss uses
    the mean (Torch ``MSECriterion``), which is what its default weights are tuned for.
    """
    return tf.reduce_mean(tf.square(tf.cast(features, tf.float32) - tf.cast(target, tf.float32)))


@tf.custom_gradient
def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """``G = F^T F / (h * w * c)`` for ``F`` the ``[h*w, c]`` feature matrix, in float32.

    Gatys et al. 2016 eq. 3 without normalisation; neural-style divides by the number of
    elements (its StyleLoss ``G:div(input:nElement())``), which makes Grams of different
    image sizes comparable (the style image need not have the content's size).

    The gradient ``F (dG + dG^T) / (h * w * c)`` is computed from ``F`` in its own
    precision: the float32 copy of bfloat16 features lives only for the product (kept
    for the gradient, the copies and their float32 gradients were a third of the peak
    of an evaluation at 2048 x 2048; BENCHMARKS.md, print size).
    """
    channels = tf.shape(features)[-1]
    matrix = tf.reshape(features, (-1, channels))
    elements = tf.cast(tf.size(matrix), tf.float32)
    wide = tf.cast(matrix, tf.float32)
    gram = tf.matmul(wide, wide, transpose_a=True) / elements

    def gradient(upstream: tf.Tensor) -> tf.Tensor:
        symmetric = tf.cast((upstream + tf.transpose(upstream)) / elements, features.dtype)
        return tf.reshape(tf.matmul(matrix, symmetric), tf.shape(features))

    return gram, gradient


def style_layer_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of Gram matrices (neural-style's StyleLoss, ``MSECriterion``).

    Gatys et al. 2016 eq. 4 divides the sum by ``4 N^2 M^2`` instead; with the Gram
    already divided by ``h * w * c`` the mean differs from it only by a constant per layer.
    """
    return tf.reduce_mean(tf.square(gram_matrix(features) - target_gram))


def style_loss(
    features: Mapping[str, tf.Tensor],
    target_grams: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float | tf.Tensor],
) -> tf.Tensor:
    """``sum_l w_l * style_layer_loss_l`` (Gatys et al. 2016 eq. 5)."""
    return tf.add_n(
        [
            weight * style_layer_loss(features[layer], target_grams[layer])
            for layer, weight in layer_weights.items()
        ]
    )


def weighted_gram_matrices(features: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """One Gram matrix per mask: ``sum_x a_k(x) F(x) F(x)^T / (c * sum_x a_k(x))``.

    ``features`` ``[1, h, w, c]``, ``masks`` ``[K, h, w]`` (guidance.at_layer) -> ``[K, c,
    c]``. Gatys et al. 2017 (section 4) multiply the feature maps by the guidance channel;
    here each pixel's outer product is weighted once by it, so soft values are weights,
    and divided by the mask's sum instead of ``h * w``, so a region's statistics do not
    depend on its area. A mask of ones gives :func:`gram_matrix` (up to rounding).
    """
    channels, count = tf.shape(features)[-1], tf.shape(masks)[0]
    matrix = tf.cast(tf.reshape(features, (-1, channels)), tf.float32)
    weights = tf.reshape(masks, (count, -1))
    # [h*w, K*c]: every mask's weighted copy side by side, so one matrix product (transposed
    # in place, as gram_matrix) gives all K Grams; about half the time of an einsum here.
    weighted = tf.reshape(
        tf.transpose(weights)[:, :, None] * matrix[:, None, :], (-1, count * channels)
    )
    grams = tf.reshape(tf.matmul(weighted, matrix, transpose_a=True), (count, channels, channels))
    sums = tf.reduce_sum(weights, axis=1) * tf.cast(channels, weights.dtype)
    return grams / tf.maximum(sums, 1e-12)[:, None, None]  # an empty mask: zeros, not NaN


def guided_style_layer_loss(
    features: tf.Tensor, target_grams: tf.Tensor, masks: tf.Tensor, shares: tf.Tensor
) -> tf.Tensor:
    """``sum_k share_k * mean((G_k - T_k)^2)``: each style's Gram under its mask against its
    target ``[K, c, c]``, weighted by its share of the picture ``[K]``."""
    difference = weighted_gram_matrices(features, masks) - target_grams
    return tf.reduce_sum(shares * tf.reduce_mean(tf.square(difference), axis=(1, 2)))


def guided_style_loss(
    features: Mapping[str, tf.Tensor],
    target_grams: Mapping[str, tf.Tensor],
    masks: Mapping[str, tf.Tensor],
    shares: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float | tf.Tensor],
) -> tf.Tensor:
    """:func:`style_loss` with regions: ``sum_l w_l * guided_style_layer_loss_l``."""
    return tf.add_n(
        [
            weight
            * guided_style_layer_loss(
                features[layer], target_grams[layer], masks[layer], shares[layer]
            )
            for layer, weight in layer_weights.items()
        ]
    )


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean of squared differences between horizontal and vertical neighbours.

    neural-style's TVLoss is the gradient of ``1/2 * sum(dx^2 + dy^2)``, a sum that grows
    with the image; the mean keeps the weight size-independent (neural-style's default
    1e-3 at its 512 px default equals a weight of about 390 here).
    """
    dy = image[:, 1:, :-1, :] - image[:, :-1, :-1, :]
    dx = image[:, :-1, 1:, :] - image[:, :-1, :-1, :]
    return tf.reduce_mean(tf.square(dx) + tf.square(dy))

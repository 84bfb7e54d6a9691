"""The objective of one run: weighted content, style and total-variation losses.

Targets (content features, blended Gram matrices) and weights enter the compiled
function as tensors, so a new image, style or weight reuses the trace; only a new
layer set or image size traces again (``reduce_retracing`` generalises sizes).

With regions (guidance.py) the style term is the guided one: :class:`GuidedTargets`
hold each style's own target Gram matrices and its weight map at each style layer, and
a second compiled function evaluates them; the objective without regions is untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stylize.engine.optimization import guidance, losses
from stylize.engine.optimization.optimizers import Evaluate
from stylize.engine.optimization.vgg_features import FeatureMaps, Vgg19


@dataclass(frozen=True)
class Targets:
    content: FeatureMaps  # content layer -> features of the content image
    grams: FeatureMaps  # style layer -> weighted mean of the style images' Gram matrices


@dataclass(frozen=True)
class GuidedTargets:
    """Targets of the guided style loss (guidance.py), per style layer, K styles."""

    content: FeatureMaps  # content layer -> features of the content image
    grams: FeatureMaps  # style layer -> [K, c, c]: each style's Gram (under its style region)
    masks: FeatureMaps  # style layer -> [K, h, w]: each style's weight at the layer's pixels
    shares: FeatureMaps  # style layer -> [K]: each style's mean weight (its part of the picture)


@dataclass(frozen=True)
class Weights:
    content: float
    style: float
    tv: float
    style_layers: tuple[tuple[str, float], ...]


class Objective:
    """Compiled value-and-gradient for one choice of content and style layers."""

    def __init__(
        self, vgg: Vgg19, content_layers: tuple[str, ...], style_layers: tuple[str, ...]
    ) -> None:
        self._vgg = vgg
        self._content_layers = content_layers
        self._style_layers = style_layers
        self._layers = tuple(dict.fromkeys(content_layers + style_layers))
        self._compiled = tf.function(self._value_and_gradient, reduce_retracing=True)
        self._compiled_guided = tf.function(self._guided_value_and_gradient, reduce_retracing=True)

    def targets(
        self,
        content: np.ndarray,
        styles: Sequence[tuple[np.ndarray, float]],
        style_masks: Sequence[np.ndarray | None] = (),
    ) -> Targets:
        """``content`` and styles: uint8 or float RGB [H, W, 3]; style weights > 0, any sum.

        ``style_masks``: per style, None or its style region [H, W] at the style's size
        (guidance.py): its Gram matrices are taken under the mask.
        """
        content_maps = self._features(content, self._content_layers)
        total = sum(weight for _, weight in styles)
        grams: dict[str, tf.Tensor] = {}
        for index, (rgb, weight) in enumerate(styles):
            style_grams = self._style_grams(rgb, style_masks[index] if style_masks else None)
            for layer in self._style_layers:
                gram = (weight / total) * style_grams[layer]
                grams[layer] = grams[layer] + gram if layer in grams else gram
        return Targets({name: content_maps[name] for name in self._content_layers}, grams)

    def guided_targets(
        self,
        content: np.ndarray,
        styles: Sequence[np.ndarray],
        style_masks: Sequence[np.ndarray | None],
        style_weights: np.ndarray,
    ) -> GuidedTargets:
        """The guided style loss's targets: ``styles`` RGB [H, W, 3], their style regions
        (None: all of it), and ``style_weights`` [K, H, W] at the content's working size
        (guidance.Guidance.style_weights)."""
        content_maps = self._features(content, self._content_layers)
        per_style = [
            self._style_grams(rgb, mask) for rgb, mask in zip(styles, style_masks, strict=True)
        ]
        grams, masks, shares = {}, {}, {}
        for layer in self._style_layers:
            grams[layer] = tf.stack([style_grams[layer] for style_grams in per_style])
            at_layer = guidance.at_layer(style_weights, guidance.pools_before(layer))
            masks[layer] = tf.constant(at_layer)
            shares[layer] = tf.constant(at_layer.mean(axis=(1, 2), dtype=np.float64), tf.float32)
        content_targets = {name: content_maps[name] for name in self._content_layers}
        return GuidedTargets(content_targets, grams, masks, shares)

    def evaluate(self, targets: Targets | GuidedTargets, weights: Weights) -> Evaluate:
        """The value-and-gradient function the optimisers call."""
        scalars = {
            "content": tf.constant(weights.content, tf.float32),
            "style": tf.constant(weights.style, tf.float32),
            "tv": tf.constant(weights.tv, tf.float32),
        }
        per_layer = {name: tf.constant(value, tf.float32) for name, value in weights.style_layers}

        if isinstance(targets, GuidedTargets):
            guided = targets

            def run_guided(image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
                return self._compiled_guided(
                    image, guided.content, guided.grams, guided.masks, guided.shares, scalars,
                    per_layer,
                )  # fmt: skip

            return run_guided

        def run(image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            return self._compiled(image, targets.content, targets.grams, scalars, per_layer)

        return run

    def _features(self, rgb: np.ndarray, layers: tuple[str, ...]) -> FeatureMaps:
        return self._vgg.features(tf.constant(rgb[None], tf.float32), layers)

    def _style_grams(self, rgb: np.ndarray, mask: np.ndarray | None) -> FeatureMaps:
        """A style image's Gram matrix at each style layer, under ``mask`` [H, W] if given."""
        maps = self._features(rgb, self._style_layers)
        if mask is None:
            return {layer: losses.gram_matrix(maps[layer]) for layer in self._style_layers}
        grams = {}
        for layer in self._style_layers:
            at_layer = guidance.at_layer(mask[None], guidance.pools_before(layer))
            grams[layer] = losses.weighted_gram_matrices(maps[layer], tf.constant(at_layer))[0]
        return grams

    def _value_and_gradient(
        self,
        image: tf.Tensor,
        content: FeatureMaps,
        grams: FeatureMaps,
        scalars: dict[str, tf.Tensor],
        per_layer: dict[str, tf.Tensor],
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        return self._terms_and_gradient(
            image, content, scalars, lambda maps: losses.style_loss(maps, grams, per_layer)
        )

    def _guided_value_and_gradient(
        self,
        image: tf.Tensor,
        content: FeatureMaps,
        grams: FeatureMaps,
        masks: FeatureMaps,
        shares: FeatureMaps,
        scalars: dict[str, tf.Tensor],
        per_layer: dict[str, tf.Tensor],
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        return self._terms_and_gradient(
            image,
            content,
            scalars,
            lambda maps: losses.guided_style_loss(maps, grams, masks, shares, per_layer),
        )

    def _terms_and_gradient(
        self,
        image: tf.Tensor,
        content: FeatureMaps,
        scalars: dict[str, tf.Tensor],
        style_term: Callable[[FeatureMaps], tf.Tensor],
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The weighted terms and the total's gradient (traced inside a tf.function)."""
        with tf.GradientTape() as tape:
            tape.watch(image)
            maps = self._vgg.features(image, self._layers)
            terms = {
                "content": scalars["content"]
                * tf.add_n([losses.content_loss(maps[name], content[name]) for name in content]),
                "style": scalars["style"] * style_term(maps),
                "tv": scalars["tv"] * losses.total_variation_loss(image),
            }
            terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms, tape.gradient(terms["total"], image)

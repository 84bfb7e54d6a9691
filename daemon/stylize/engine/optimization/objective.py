"""The objective of one run: weighted content, style and total-variation losses.

Targets (content features, blended Gram matrices) and weights enter the compiled
function as tensors, so a new image, style or weight reuses the trace; only a new
layer set or image size traces again (``reduce_retracing`` generalises sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stylize.engine.optimization import losses
from stylize.engine.optimization.optimizers import Evaluate
from stylize.engine.optimization.vgg_features import FeatureMaps, Vgg19


@dataclass(frozen=True)
class Targets:
    content: FeatureMaps  # content layer -> features of the content image
    grams: FeatureMaps  # style layer -> weighted mean of the style images' Gram matrices


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

    def targets(self, content: np.ndarray, styles: Sequence[tuple[np.ndarray, float]]) -> Targets:
        """``content`` and styles: uint8 or float RGB [H, W, 3]; style weights > 0, any sum."""
        content_maps = self._features(content)
        total = sum(weight for _, weight in styles)
        grams: dict[str, tf.Tensor] = {}
        for rgb, weight in styles:
            maps = self._features(rgb)
            for layer in self._style_layers:
                gram = (weight / total) * losses.gram_matrix(maps[layer])
                grams[layer] = grams[layer] + gram if layer in grams else gram
        return Targets({name: content_maps[name] for name in self._content_layers}, grams)

    def evaluate(self, targets: Targets, weights: Weights) -> Evaluate:
        """The value-and-gradient function the optimisers call."""
        scalars = {
            "content": tf.constant(weights.content, tf.float32),
            "style": tf.constant(weights.style, tf.float32),
            "tv": tf.constant(weights.tv, tf.float32),
        }
        per_layer = {name: tf.constant(value, tf.float32) for name, value in weights.style_layers}

        def run(image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
            return self._compiled(image, targets.content, targets.grams, scalars, per_layer)

        return run

    def _features(self, rgb: np.ndarray) -> FeatureMaps:
        return self._vgg.features(tf.constant(rgb[None], tf.float32), self._layers)

    def _value_and_gradient(
        self,
        image: tf.Tensor,
        content: FeatureMaps,
        grams: FeatureMaps,
        scalars: dict[str, tf.Tensor],
        per_layer: dict[str, tf.Tensor],
    ) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(image)
            maps = self._vgg.features(image, self._layers)
            terms = {
                "content": scalars["content"]
                * tf.add_n([losses.content_loss(maps[name], content[name]) for name in content]),
                "style": scalars["style"] * losses.style_loss(maps, grams, per_layer),
                "tv": scalars["tv"] * losses.total_variation_loss(image),
            }
            terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms, tape.gradient(terms["total"], image)

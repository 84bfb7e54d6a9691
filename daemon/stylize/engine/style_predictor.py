"""The style-prediction network (distilled MobileNetV2 -> 100-d vector), in TensorFlow.

Rebuilt from the dequantized weights of the shipped ONNX file. Batch norm is
already folded into the convolutions; ReLU6 follows every convolution except
the bottleneck projections and the final 1x1 ``mobilenet_conv``. Strides come
from the ONNX graph; stride-2 convolutions use TensorFlow "SAME" padding, which
is what the graph's ``pads = [0, 0, 1, 1]`` encodes at even sizes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stylize.models.onnx_weights import ConvParams, GraphWeights

_BLOCK = re.compile(r"^MobilenetV2/expanded_conv(?:_(\d+))?/project$")


@dataclass(frozen=True)
class _Layer:
    kernel: tf.Tensor
    bias: tf.Tensor
    stride: int
    depthwise: bool


@dataclass(frozen=True)
class _Block:
    expand: _Layer | None
    depthwise: _Layer
    project: _Layer
    residual: bool


def _layer(params: ConvParams) -> _Layer:
    depthwise = params.group > 1
    # ONNX [out, in/group, kh, kw] -> TF conv [kh, kw, in, out] or depthwise [kh, kw, in, 1]
    axes = (2, 3, 0, 1) if depthwise else (2, 3, 1, 0)
    return _Layer(
        kernel=tf.constant(np.transpose(params.weight, axes), tf.float32),
        bias=tf.constant(params.bias, tf.float32),
        stride=params.stride,
        depthwise=depthwise,
    )


def _apply(x: tf.Tensor, layer: _Layer) -> tf.Tensor:
    strides = [1, layer.stride, layer.stride, 1]
    if layer.depthwise:
        y = tf.nn.depthwise_conv2d(x, layer.kernel, strides=strides, padding="SAME")
    else:
        y = tf.nn.conv2d(x, layer.kernel, strides=strides, padding="SAME")
    return tf.nn.bias_add(y, layer.bias)


def _relu6(x: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(x, 0.0, 6.0)


def _blocks(convs: dict[str, ConvParams]) -> list[_Block]:
    indices = sorted(int(m.group(1) or 0) for name in convs if (m := _BLOCK.match(name)))
    blocks = []
    for index in indices:
        scope = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
        expand = convs.get(f"{scope}/expand")
        depthwise, project = convs[f"{scope}/depthwise"], convs[f"{scope}/project"]
        in_channels = expand.weight.shape[1] if expand else depthwise.weight.shape[0]
        blocks.append(
            _Block(
                expand=_layer(expand) if expand else None,
                depthwise=_layer(depthwise),
                project=_layer(project),
                residual=depthwise.stride == 1 and in_channels == project.weight.shape[0],
            )
        )
    return blocks


class StylePredictor(tf.Module):
    """style images [N, H, W, 3] in [0, 1] -> style vectors [N, 100]."""

    def __init__(self, weights: GraphWeights) -> None:
        super().__init__(name="style_predictor")
        convs = weights.convs
        self._stem = _layer(convs["MobilenetV2/Conv"])
        self._blocks = _blocks(convs)
        self._head = _layer(convs["MobilenetV2/Conv_1"])
        self._bottleneck = _layer(convs["mobilenet_conv/Conv"])

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images: tf.Tensor) -> tf.Tensor:
        x = _relu6(_apply(images, self._stem))
        for block in self._blocks:
            h = _relu6(_apply(x, block.expand)) if block.expand else x
            h = _relu6(_apply(h, block.depthwise))
            h = _apply(h, block.project)
            x = x + h if block.residual else h
        x = _relu6(_apply(x, self._head))
        pooled = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        return _apply(pooled, self._bottleneck)[:, 0, 0, :]

"""Read the convolutions of a tf2onnx-exported int8 graph as float arrays.

The shipped graphs keep every weight as int8 (biases int32) behind a
``DequantizeLinear`` node; activations pass through Quantize/Dequantize pairs
with one scale each, which a float rebuild treats as identity. Here every
``Conv`` node becomes a :class:`ConvParams` keyed by its weight's scope, e.g.
``transformer/contract/conv1`` or ``MobilenetV2/expanded_conv_3/depthwise``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

_WEIGHT_SUFFIXES = ("/depthwise_weights_dequant", "/weights_dequant")


@dataclass(frozen=True)
class ConvParams:
    """One convolution: ``weight`` is ONNX layout [out, in/group, kh, kw]."""

    weight: np.ndarray
    bias: np.ndarray
    stride: int
    group: int

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[-1])


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int) -> np.ndarray:
    q = q.astype(np.float32)
    zero = zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero) * scale


def constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every initializer and every dequantized initializer, as float arrays by name."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and all(name in values for name in node.input):
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            q, scale, zero = (values[name] for name in node.input)
            values[node.output[0]] = _dequantize(q, scale, zero, axis)
    return values


def _scope(weight_name: str) -> str:
    for suffix in _WEIGHT_SUFFIXES:
        if weight_name.endswith(suffix):
            return weight_name[: -len(suffix)]
    raise ValueError(f"unexpected conv weight name {weight_name!r}")


@dataclass(frozen=True)
class GraphWeights:
    """The convolutions of one graph by scope, and all its constants by name."""

    convs: dict[str, ConvParams]
    constants: dict[str, np.ndarray]

    def scalar(self, name: str) -> float:
        return float(self.constants[name].reshape(-1)[0])


def read_weights(path: Path) -> GraphWeights:
    """All convolutions of the graph at ``path``, dequantized, by scope."""
    graph = onnx.load(str(path)).graph
    values = constant_values(graph)
    convs: dict[str, ConvParams] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        convs[_scope(node.input[1])] = ConvParams(
            weight=values[node.input[1]],
            bias=values[node.input[2]],
            stride=int(attrs.get("strides", [1, 1])[0]),
            group=int(attrs.get("group", 1)),
        )
    return GraphWeights(convs=convs, constants=values)

"""Rewrites of the shipped ONNX graphs for comparison runs in onnxruntime.

Not used by the daemon: the tests and the benchmark run the shipped files in
onnxruntime beside our TensorFlow rebuild, at the same (dynamic) resolution,
and with activation quantization removed for a tight numerical comparison.
"""

from __future__ import annotations

import onnx


def with_dynamic_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of ``model`` whose image inputs/outputs take any H and W.

    The transfer network declares a static 384x384 input, but nothing in the
    graph depends on it; symbolic dims let onnxruntime run other sizes.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    del model.graph.value_info[:]
    return model


def without_activation_quantization(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of ``model`` with every Quantize/Dequantize pair on activations removed.

    Weight ``DequantizeLinear`` nodes (fed by initializers) stay, so the graph
    computes in float with exactly the shipped, dequantized weights.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.node:
        is_qdq = node.op_type in ("QuantizeLinear", "DequantizeLinear")
        if is_qdq and node.input[0] not in initializers:
            alias[node.output[0]] = alias.get(node.input[0], node.input[0])
            continue
        kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
    for output in graph.output:
        source = alias.get(output.name)
        if source is not None:
            kept.append(onnx.helper.make_node("Identity", [source], [output.name]))
    del graph.node[:]
    graph.node.extend(kept)
    del graph.value_info[:]
    return model

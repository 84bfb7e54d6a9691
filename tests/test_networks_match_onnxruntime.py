"""Our TensorFlow networks against onnxruntime running the shipped ONNX files.

Two comparisons, each with the tolerance it holds:
- against the shipped graphs with activation quantization removed (same
  dequantized weights, float arithmetic): max abs difference <= 1e-4;
- against the shipped int8 graphs as they are (activations rounded to int8 at
  every layer): predictor cosine >= 0.999, transformer mean abs <= 0.03 and
  max abs <= 0.35 on a real photo (values in [0, 1]), visually identical.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import STYLES, sample_photo
from stylize.engine.style_predictor import StylePredictor
from stylize.engine.transformer_network import TransformerNetwork
from stylize.models.onnx_graph import with_dynamic_dims, without_activation_quantization
from stylize.models.onnx_weights import read_weights
from stylize.models.provenance import model_file

ort = pytest.importorskip("onnxruntime")


def _session(model: onnx.ModelProto):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # the default optimiser rewrites the int8 predictor and changes its output
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def _style_image() -> np.ndarray:
    from PIL import Image

    image = Image.open(STYLES / "starry_night.jpg").convert("RGB").resize((256, 256))
    return (np.asarray(image, np.float32) / 255.0)[None]


@pytest.fixture(scope="module")
def predictor_model() -> onnx.ModelProto:
    return onnx.load(str(model_file("style_predictor").path))


@pytest.fixture(scope="module")
def transformer_model() -> onnx.ModelProto:
    return with_dynamic_dims(onnx.load(str(model_file("transformer").path)))


@pytest.fixture(scope="module")
def style_vector(predictor_model: onnx.ModelProto) -> np.ndarray:
    return _session(predictor_model).run(None, {"style_image": _style_image()})[0].reshape(1, 100)


def test_style_predictor_matches_float_graph(predictor_model: onnx.ModelProto) -> None:
    ours = StylePredictor(read_weights(model_file("style_predictor").path))(_style_image()).numpy()
    theirs = _session(without_activation_quantization(predictor_model)).run(
        None, {"style_image": _style_image()}
    )
    np.testing.assert_allclose(ours, theirs[0].reshape(1, 100), atol=1e-4, rtol=0)


def test_style_predictor_close_to_int8_graph(
    predictor_model: onnx.ModelProto, style_vector: np.ndarray
) -> None:
    ours = StylePredictor(read_weights(model_file("style_predictor").path))(_style_image()).numpy()
    cosine = float(
        (ours * style_vector).sum() / np.linalg.norm(ours) / np.linalg.norm(style_vector)
    )
    assert cosine >= 0.999


def _content() -> np.ndarray:
    return (np.asarray(sample_photo(160, 120), np.float32) / 255.0)[None]


def _run_transformer(model: onnx.ModelProto, content: np.ndarray, vector: np.ndarray) -> np.ndarray:
    names = [i.name for i in model.graph.input]
    return _session(model).run(None, {names[0]: content, names[1]: vector.reshape(1, 1, 1, 100)})[0]


def test_transformer_matches_float_graph(
    transformer_model: onnx.ModelProto, style_vector: np.ndarray
) -> None:
    ours = TransformerNetwork(read_weights(model_file("transformer").path))(
        _content(), style_vector
    ).numpy()
    theirs = _run_transformer(
        without_activation_quantization(transformer_model), _content(), style_vector
    )
    assert ours.shape == theirs.shape == (1, 120, 160, 3)
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)


def test_transformer_close_to_int8_graph(
    transformer_model: onnx.ModelProto, style_vector: np.ndarray
) -> None:
    ours = TransformerNetwork(read_weights(model_file("transformer").path))(
        _content(), style_vector
    ).numpy()
    theirs = _run_transformer(transformer_model, _content(), style_vector)
    difference = np.abs(ours - theirs)
    assert difference.mean() <= 0.03
    assert difference.max() <= 0.35


@pytest.mark.parametrize(("height", "width"), [(5, 7), (3, 3), (6, 10)])
def test_last_layer_pads_in_space_to_depth_layout_exactly(height: int, width: int) -> None:
    """The final 9x9 convolution reflect-pads without leaving space-to-depth layout; it
    must equal depth-to-space, full-resolution padding and space-to-depth, at odd sizes
    too (the ONNX comparison above only sees even ones)."""
    from stylize.engine import transformer_network as tn

    rng = np.random.default_rng(height * width)
    kernel = tn.space_to_depth_kernel(rng.normal(size=(9, 9, 8, 3)).astype(np.float32))
    conv = tn._phased_conv(kernel, rng.normal(size=3).astype(np.float32), pad=4)
    z = rng.normal(size=(1, height, width, 32)).astype(np.float32)
    expected = tn._conv9_phased(tn._full(z), conv).numpy()
    np.testing.assert_array_equal(tn._conv9_on_phases(z, conv).numpy(), expected)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 5), (6, 10)])
def test_stride_two_convolution_reads_space_to_depth_layout_exactly(
    height: int, width: int
) -> None:
    """The second contract layer (3x3, stride 2, reflect pad 1) reads the first one in
    space-to-depth layout; it must equal the convolution of the full-resolution image
    (random weights: the kernel's rearrangement, not the network, is under test)."""
    import tensorflow as tf
    from stylize.engine import transformer_network as tn

    rng = np.random.default_rng(height * width)
    kernel = rng.normal(size=(3, 3, 8, 16)).astype(np.float32)
    bias = rng.normal(size=16).astype(np.float32)
    full = tn._Conv(tf.constant(kernel), tf.constant(bias), stride=2, pad=1)
    phased = tn._Conv(tf.constant(tn.stride2_phased_kernel(kernel)), tf.constant(bias), 1, 0)
    z = rng.normal(size=(1, height, width, 32)).astype(np.float32)
    expected = tn._conv(tn._full(z), full).numpy()
    np.testing.assert_allclose(tn._stride2_phased(z, phased).numpy(), expected, atol=1e-5)

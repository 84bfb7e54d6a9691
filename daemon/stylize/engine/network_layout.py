"""The transfer network's layout as constants and numpy: what TensorFlow-free code needs
(the strip path, the style mixing, GetInfo) and the TensorFlow definition shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from stylize.models.onnx_weights import ConvParams

STYLE_VECTOR_SIZE = 100
SIZE_MULTIPLE = 4  # two stride-2 convolutions on the way in, two upsamplings out
EPSILON_CONSTANT = "transformer/expand/conv1/conv/StyleNorm/batchnorm/add/y_dequant"  # 1e-5
CONTRACT = ("conv1", "conv2", "conv3")
RESIDUAL_SCOPES = tuple(f"residual{i}" for i in range(1, 6))
EXPAND = ("conv1", "conv2", "conv3")
RESIDUAL_BLOCKS = len(RESIDUAL_SCOPES)
# How the strip pieces' inputs are padded (by strip_inference.py), in np.pad's and
# tf.pad's terms: before a 3x3 convolution the image is reflected; before a nearest
# upsample + convolution its edge is repeated (_upsample_conv_phased).
RESIDUAL_PADDING, EXPAND_PADDING = "reflect", "symmetric"
# The 13 conditional instance norms, in network order.
NORM_LAYERS = tuple(
    [f"transformer/residual/{b}/conv{j}" for b in RESIDUAL_SCOPES for j in (1, 2)]
    + [f"transformer/expand/{n}/conv" for n in EXPAND]
)
Projection = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[int]]


def style_projection(convs: dict[str, ConvParams]) -> Projection:
    """(gamma matrix, bias), (beta matrix, bias) over all norms (1x1 convs on the style
    vector, stacked), and each norm's channel count."""

    def stacked(suffix: str) -> tuple[np.ndarray, np.ndarray]:
        layers = [convs[f"style_params/{name}/StyleNorm/{suffix}"] for name in NORM_LAYERS]
        matrix = np.concatenate([p.weight[:, :, 0, 0].T for p in layers], axis=1)
        bias = np.concatenate([p.bias for p in layers])
        return matrix.astype(np.float32), bias.astype(np.float32)

    splits = [convs[f"style_params/{n}/StyleNorm/Conv"].weight.shape[0] for n in NORM_LAYERS]
    return stacked("Conv_1"), stacked("Conv"), splits

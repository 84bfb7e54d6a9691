"""Full-resolution stylization of large images in strips of rows, exactly.

The transfer network's convolutions are local, but its instance norms need each
channel's mean and variance over the whole image, and at full resolution the
whole-image tensors are what exhausts memory (about 290 bytes per pixel: 3.5 GB
for 12 MP). Here the full- and half-resolution layers run strip by strip: one
pass over the strips gathers the moments of a layer's pre-norm output, the next
normalises with them and computes the layer after. The quarter-resolution
residual blocks run whole (8 bytes per pixel of the original).

Every strip carries a halo of rows wider than the receptive field of what it
computes, is computed as an image of its own (reflect padding at its edges),
and loses its halo afterwards, so rows near a strip's edge see real
neighbours: the result equals the whole-image computation up to float
rounding, with no seams (tests/test_strip_inference.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from stylize.engine.transformer_network import SIZE_MULTIPLE, TransformerNetwork

# Halos in rows of the strip's input. Receptive radius of each step, in its input rows:
# contract 7 full-res rows (< 4 quarter rows = 16 full rows); expand1 1 half row after
# upsampling (< 2 quarter rows); expand2 + expand3 5 full rows (< 4 half rows = 8).
_CONTRACT_HALO = 4  # in output (quarter-resolution) rows
_EXPAND1_HALO = 2  # quarter-resolution rows
_EXPAND23_HALO = 4  # half-resolution rows

Step = Callable[[str], None]


@dataclass
class Moments:
    """Per-channel mean and variance over strips, merged exactly (Chan et al.)."""

    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, values: tf.Tensor) -> None:
        mean, variance = tf.nn.moments(values, axes=[0, 1, 2])
        n = int(values.shape[1]) * int(values.shape[2])
        mean, m2 = mean.numpy().astype(np.float64), variance.numpy().astype(np.float64) * n
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * n / total)
        self.count = total

    def tensors(self) -> tuple[tf.Tensor, tf.Tensor]:
        assert self.mean is not None and self.m2 is not None
        shape = (1, 1, 1, -1)
        mean = tf.constant(self.mean.reshape(shape), tf.float32)
        return mean, tf.constant((self.m2 / self.count).reshape(shape), tf.float32)


def spans(length: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, stop) pieces of ``range(length)``, ``step`` long (the last may be shorter)."""
    for start in range(0, length, step):
        yield start, min(start + step, length)


def _strip(array: np.ndarray, start: int, stop: int, halo: int) -> tuple[np.ndarray, int]:
    """Rows [start - halo, stop + halo) of a [1, H, W, C] array, clipped; and the top halo."""
    first = max(0, start - halo)
    return array[:, first : min(array.shape[1], stop + halo)], start - first


class StripRunner:
    """Runs a :class:`TransformerNetwork` over a large image in strips of ``rows`` rows."""

    def __init__(self, network: TransformerNetwork, rows: int = 256) -> None:
        if rows % (2 * SIZE_MULTIPLE):
            raise ValueError(f"strip rows must be a multiple of {2 * SIZE_MULTIPLE}")
        self.network = network
        self.rows = rows  # full-resolution rows per strip

    def count_steps(self, height: int) -> int:
        strips = len(range(0, height, self.rows))
        return 5 * strips + 1  # contract, expand1 x2, expand2/3 x2 per strip; residual once

    def run(self, content: np.ndarray, style: np.ndarray, step: Step) -> np.ndarray:
        """content [1, H, W, 3] in [0, 1], H and W multiples of 4 -> [H, W, 3] in [0, 1]."""
        quarter = self._contract(content, step)
        quarter = self.network.residual(quarter, style).numpy()
        step("residual")
        norms = self.network.expand_norm_params(style)
        half = self._expand1(quarter, norms[0], step)
        del quarter
        return self._expand23(half, norms[1], norms[2], step)

    def _contract(self, content: np.ndarray, step: Step) -> np.ndarray:
        quarter_rows = self.rows // SIZE_MULTIPLE
        pieces = []
        for start, stop in spans(content.shape[1] // SIZE_MULTIPLE, quarter_rows):
            strip, top = _strip(
                content, start * SIZE_MULTIPLE, stop * SIZE_MULTIPLE, _CONTRACT_HALO * SIZE_MULTIPLE
            )
            out = self.network.contract(strip).numpy()
            top //= SIZE_MULTIPLE
            pieces.append(out[:, top : top + stop - start])
            step("contract")
        return np.concatenate(pieces, axis=1)

    def _expand1(
        self, quarter: np.ndarray, norm: tuple[tf.Tensor, tf.Tensor], step: Step
    ) -> np.ndarray:
        """Half-resolution, post-ReLU output of the first expand layer."""
        quarter_rows = self.rows // SIZE_MULTIPLE

        def pre_norm(start: int, stop: int) -> tf.Tensor:
            strip, top = _strip(quarter, start, stop, _EXPAND1_HALO)
            out = self.network.expand1_pre_norm(strip)
            return out[:, 2 * top : 2 * (top + stop - start)]

        moments = Moments()
        for start, stop in spans(quarter.shape[1], quarter_rows):
            moments.add(pre_norm(start, stop))
            step("expand")
        mean, variance = moments.tensors()
        pieces = []
        for start, stop in spans(quarter.shape[1], quarter_rows):
            pieces.append(
                self.network.normalize_relu(pre_norm(start, stop), mean, variance, *norm).numpy()
            )
            step("expand")
        return np.concatenate(pieces, axis=1)

    def _expand23(
        self,
        half: np.ndarray,
        norm2: tuple[tf.Tensor, tf.Tensor],
        norm3: tuple[tf.Tensor, tf.Tensor],
        step: Step,
    ) -> np.ndarray:
        """Full-resolution expand layers 2 and 3, then the final norm and sigmoid."""
        half_rows = self.rows // 2

        def pre_norm2(start: int, stop: int, halo: int) -> tuple[tf.Tensor, int]:
            strip, top = _strip(half, start, stop, halo)
            return self.network.expand2_pre_norm(strip), 2 * top

        moments2 = Moments()
        for start, stop in spans(half.shape[1], half_rows):
            out, top = pre_norm2(start, stop, _EXPAND1_HALO)
            moments2.add(out[:, top : top + 2 * (stop - start)])
            step("expand")
        mean2, variance2 = moments2.tensors()
        moments3 = Moments()
        pre_norm3 = np.empty((1, 2 * half.shape[1], 2 * half.shape[2], 3), np.float32)
        for start, stop in spans(half.shape[1], half_rows):
            out, top = pre_norm2(start, stop, _EXPAND23_HALO)
            z = self.network.normalize_relu(out, mean2, variance2, *norm2)
            y3 = self.network.expand3_pre_norm(z)[:, top : top + 2 * (stop - start)]
            moments3.add(y3)
            pre_norm3[:, 2 * start : 2 * stop] = y3.numpy()
            step("expand")
        mean3, variance3 = moments3.tensors()
        for start, stop in spans(pre_norm3.shape[1], self.rows):  # in place: no second copy
            piece = pre_norm3[:, start:stop]
            pre_norm3[:, start:stop] = self.network.normalize_sigmoid(
                piece, mean3, variance3, *norm3
            )
        return pre_norm3[0]

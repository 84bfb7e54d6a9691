"""Stylization of large images in strips of rows, layer by layer: exact, in little memory.

The transfer network's convolutions are local, but each of its 13 instance norms
needs its channel's mean and variance over the whole image. So the network runs
as a sequence of passes, one per normalised layer: a pass computes its layer
strip by strip from the previous layer's stored output, normalised on the fly
with that layer's whole-image moments, stores its own pre-norm output and
returns its per-strip mean and mean square (merged across strips in float64,
Chan et al.). A residual block's sum is formed in the next pass, so it costs no
pass of its own. Only the second
expand layer is computed twice (a 16 -> 8 channel convolution, about 9 % of the
work): its full-resolution output would be the largest layer of all, so one
pass gathers its moments and the next recomputes it on the way to the last layer.

What stays in memory for N pixels besides the uint8 input and output is one
arena (``_Arena``) of four quarter-resolution 32-channel layers, whose bytes
later hold the half-resolution 16-channel and the final 3-channel layers: 16
bytes per pixel in 16-bit storage (``Backend.storage``: bf16 or float16 with
OpenVINO), about 1.1 GB at 8192 x 8192. Half of it is kept a few seconds for the
next job (``SpareMemory``).

Each strip is handed to its piece with one more row and column on each side for
the piece's first convolution (``_padded``: the neighbouring rows, or the image's
own padding at its edges), so that convolution sees what it would in the whole
image. A piece with a second convolution pads that one itself, so its strips carry
a halo of rows as wide as the second convolution's reach, and only their core rows
are kept. The result equals the whole-image computation up to float rounding,
with no seams (tests/test_strip_inference.py).
"""

from __future__ import annotations

import mmap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from stylize.engine.backends import Backend, Function
from stylize.engine.transformer_network import (
    EXPAND_PADDING,
    RESIDUAL_BLOCKS,
    RESIDUAL_PADDING,
    SIZE_MULTIPLE,
    TransformerNetwork,
)

# Halos, in rows of each pass's input, beyond the padded row each piece is given: the
# contract layers (which pad themselves) see 7 full-resolution rows (< 4 quarter rows);
# pieces with one convolution need none; expand 3's second convolution (the 9x9 in
# space-to-depth form) sees 2 half rows.
_CONTRACT_HALO = 4  # quarter-resolution rows
_EXPAND3_HALO = 2  # half-resolution rows
# Contract strips are this many times taller: their halo (16 full-resolution rows each
# side) is a quarter of a 128-row strip, and while they run only half the arena exists
# (_Arena), so their larger scratch stays under the residual blocks' peak.
_CONTRACT_TALLER = 4
# The residual blocks' passes likewise: their scratch is small (quarter resolution, 32
# channels in and out), and their one-row halo is a sixteenth of a 32-row strip.
_RESIDUAL_TALLER = 4
PASSES = 1 + RESIDUAL_BLOCKS + 3  # progress steps: contract, each block, expand 1-3

Step = Callable[[str], None]
StopCheck = Callable[[], None]


@dataclass
class Moments:
    """Per-channel mean and variance over strips, merged exactly (Chan et al.)."""

    count: int = 0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, mean: np.ndarray, mean_square: np.ndarray, count: int) -> None:
        """One strip's ``count`` values, by their per-channel mean and mean square."""
        mean = mean.astype(np.float64)
        m2 = np.maximum(mean_square.astype(np.float64) - mean**2, 0.0) * count
        if not self.count:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * count / total)
        self.count = total

    def normalisation(
        self, gamma: np.ndarray, beta: np.ndarray, epsilon: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scale and shift [C] that instance-normalise with these moments, then apply gamma/beta."""
        scale = gamma / np.sqrt(self.m2 / self.count + epsilon)
        return scale.astype(np.float32), (beta - self.mean * scale).astype(np.float32)


def spans(length: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, stop) pieces of ``range(length)``, ``step`` long (the last may be shorter)."""
    for start in range(0, length, step):
        yield start, min(start + step, length)


def _padded(layer: np.ndarray, first: int, last: int, mode: str) -> np.ndarray:
    """Rows [first, last) of a stored [1, C, H, W] layer with one more row and column on
    each side: its neighbours, or beyond the layer's edges its padding (``mode``: np.pad's
    "reflect" or "symmetric"). One copy, which the backend needs anyway (a slice of the
    rows of a channels-first layer is not contiguous)."""
    _, channels, height, width = layer.shape
    out = np.empty((1, channels, last - first + 2, width + 2), layer.dtype)
    out[:, :, 1:-1, 1:-1] = layer[:, :, first:last]
    mirror = 1 if mode == "reflect" else 0  # the edge row or column itself is repeated
    out[:, :, 0, 1:-1] = layer[:, :, first - 1 if first else mirror]
    out[:, :, -1, 1:-1] = layer[:, :, last if last < height else height - 1 - mirror]
    out[:, :, :, 0] = out[:, :, :, 1 + mirror]
    out[:, :, :, -1] = out[:, :, :, -2 - mirror]
    return out


def _reflect_index(length: int, padded: int) -> np.ndarray:
    """Indices that reflect-pad ``range(length)`` to ``padded`` at the end."""
    index = np.arange(padded)
    return np.where(index < length, index, 2 * (length - 1) - index)


def fresh_memory(size: int, dtype: np.dtype) -> np.ndarray:
    """A 1-d array of ``size`` items in new memory that is mapped in 4-KiB pages.

    numpy asks for transparent huge pages for large arrays, and where the kernel has
    no free 2-MiB blocks (a machine whose memory is full of page cache) each first
    write into one waits for compaction: on the benchmark machine the arena's first
    touch cost 1.2 s more per 67-MP job than with small pages (BENCHMARKS.md).
    """
    nbytes = size * np.dtype(dtype).itemsize
    if not nbytes or not hasattr(mmap, "MADV_NOHUGEPAGE"):
        return np.empty(size, dtype)
    memory = mmap.mmap(-1, nbytes)
    memory.madvise(mmap.MADV_NOHUGEPAGE)
    return np.frombuffer(memory, dtype, size)


class SpareMemory:
    """Arena memory of the last strip job, kept ``keep_seconds`` for the next one.

    Writing into freshly mapped pages costs the kernel a fault per page: about 1.5 s
    of a 67-MP image's 13 s on the benchmark machine for the whole arena (BENCHMARKS.md),
    time a batch of large photos need not pay again. Only the half that lives to the
    end of a job is kept, and an idle daemon returns it soon after.
    """

    def __init__(self, keep_seconds: float = 15.0, blocks: int = 2) -> None:
        self.keep_seconds = keep_seconds
        self._blocks = blocks
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def take(self, size: int, dtype: np.dtype) -> np.ndarray:
        """A 1-d array of at least ``size`` items of ``dtype``: a kept one if one fits."""
        with self._lock:
            fits = [b for b in self._free if b.dtype == dtype and b.size >= size]
            if fits:
                block = min(fits, key=lambda b: b.size)
                self._free = [b for b in self._free if b is not block]
                return block[:size]
        return fresh_memory(size, dtype)

    def give_back(self, block: np.ndarray) -> None:
        """Keep ``block`` (no view of it may be in use) for the next ``take``."""
        whole = block.base if isinstance(block.base, np.ndarray) else block
        with self._lock:
            self._free = [*self._free, whole][-self._blocks :]
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.keep_seconds, self.clear)
            self._timer.daemon = True
            self._timer.start()

    def clear(self) -> None:
        with self._lock:
            self._free = []


SPARE = SpareMemory()


class _Arena:
    """The stored layers' memory, allocated once per image (fresh pages cost time, and
    every byte counts at 67 MP): two allocations of two quarter-resolution 32-channel
    slots each, ``a`` = slots 0-1 and ``b`` = slots 2-3, the second made only after the
    contract layers (whose own scratch is large). The residual blocks' inputs alternate
    between slots 0 and 2, starting in 0; after an odd number of blocks the last one's
    input is in slot 2 and its last layer in slot 3, so expand 1 writes the
    half-resolution 16-channel layer into ``a``, and expand 3 the final 12-channel layer
    into ``b``; ``a`` is freed before the output image is made."""

    def __init__(self, height: int, width: int, dtype: np.dtype) -> None:
        self.height, self.width = (-(-n // SIZE_MULTIPLE) for n in (height, width))
        self._slot = 32 * self.height * self.width
        self._dtype = dtype
        self._halves: list[np.ndarray | None] = [None, None]

    def _view(self, slot: int, channels: int, scale: int) -> np.ndarray:
        memory = self._halves[slot // 2]
        if memory is None:
            memory = self._halves[slot // 2] = SPARE.take(2 * self._slot, self._dtype)
        start = slot % 2 * self._slot
        shape = (1, channels, scale * self.height, scale * self.width)
        return memory[start : start + int(np.prod(shape))].reshape(shape)

    def quarter(self, slot: int) -> np.ndarray:
        return self._view(slot, 32, 1)

    def half(self) -> np.ndarray:
        return self._view(0, 16, 2)

    def final(self) -> np.ndarray:
        return self._view(2, 12, 2)

    def free_half(self) -> None:
        """Free ``a`` (the half-resolution layer), once no view of it is left: kept, it
        would sit beside the output image and raise the job's peak."""
        self._halves[0] = None

    def close(self) -> None:
        """Give all of it back (no view of it may be left)."""
        for half in (0, 1):
            self._give_back(half)

    def _give_back(self, half: int) -> None:
        memory, self._halves[half] = self._halves[half], None
        if memory is not None:
            SPARE.give_back(memory)


assert RESIDUAL_BLOCKS % 2, "the arena's slots assume an odd number of residual blocks"
_X, _H, _SPARE, _Y = 0, 1, 2, 3  # the residual blocks' slots


class StripRunner:
    """Runs a :class:`TransformerNetwork` through ``backend`` in strips of ``rows`` rows."""

    def __init__(self, network: TransformerNetwork, backend: Backend, rows: int = 256) -> None:
        if rows % (2 * SIZE_MULTIPLE):
            raise ValueError(f"strip rows must be a multiple of {2 * SIZE_MULTIPLE}")
        self.network = network
        self.backend = backend
        self.rows = rows  # full-resolution rows per strip

    def run(self, rgb: np.ndarray, style: np.ndarray, step: Step, stop_if: StopCheck) -> np.ndarray:
        """uint8 [H, W, 3] -> stylized uint8; float32 in [0, 1] -> float32 in [0, 1]."""
        self._stop_if = stop_if
        arena = _Arena(rgb.shape[0], rgb.shape[1], self.backend.storage)
        try:
            return self._passes(rgb, self.network.norm_params(style), arena, step)
        finally:
            arena.close()

    def _passes(
        self,
        rgb: np.ndarray,
        norms: list[tuple[np.ndarray, np.ndarray]],
        arena: _Arena,
        step: Step,
    ) -> np.ndarray:
        network, epsilon = self.network, self.network.epsilon
        x = self._contract(rgb, arena.quarter(_X))
        step("contract")
        x, y, norm = self._residual(x, arena, norms, step)
        moments1 = self._layer(network.piece_expand1, (x, y), [*norm], [arena.half()], 0, 2, 4)
        del x, y  # their bytes become the final layer's
        step("expand")
        half = arena.half()
        norm1 = moments1.normalisation(*norms[-3], epsilon)
        moments2 = Moments()
        for start, stop, first, last, core in self._strips(half.shape[2], 0):
            mean, mean_square = self.backend.run(
                network.piece_expand2_moments,
                _padded(half, first, last, EXPAND_PADDING),
                *norm1,
                core,
            )
            moments2.add(mean, mean_square, 4 * (stop - start) * half.shape[3])
        step("expand")
        norm2 = moments2.normalisation(*norms[-2], epsilon)
        final = arena.final()
        moments3 = self._layer(
            network.piece_expand3, (half,), [*norm1, *norm2], [final], _EXPAND3_HALO, 1, 2, 4
        )
        del half
        arena.free_half()
        step("expand")
        return self._finish(final, moments3.normalisation(*norms[-1], epsilon), rgb)

    def _strips(
        self, length: int, halo: int, unit: int = 2, taller: int = 1
    ) -> Iterator[tuple[int, int, int, int, np.ndarray]]:
        """Core [start, stop), input [first, last) and core rows relative to ``first``.

        Every input window has the same height (the first and last are shifted inwards,
        seeing more context instead of less): a runtime prepares its kernels once per
        input shape, and a new image size then costs one shape per pass, not three.
        """
        step = taller * self.rows // unit
        window = min(length, step + 2 * halo)
        for start, stop in spans(length, step):
            self._stop_if()
            first = min(max(0, start - halo), length - window)
            yield (
                start,
                stop,
                first,
                first + window,
                np.array([start - first, stop - first], np.int32),
            )

    def _layer(
        self,
        piece: Function,
        sources: tuple[np.ndarray, ...],
        extra: list[np.ndarray],
        outs: list[np.ndarray],
        halo: int,
        ratio: int,
        unit: int,
        phases: int = 1,
        taller: int = 1,
        padding: str = EXPAND_PADDING,
    ) -> Moments:
        """One pass of a piece that stores its outputs in ``outs`` and returns their moments.

        ``ratio``: output rows per input row; ``unit``: full-resolution rows per input row.
        An output one row and column wider on each side than ``outs`` (a residual block's
        sum, formed on the padded strip) is cropped as it is stored.
        """
        moments = Moments()
        _, _, height, width = sources[0].shape
        for start, stop, first, last, core in self._strips(height, halo, unit, taller):
            keep = core * ratio
            *stored, mean, mean_square = self.backend.run(
                piece, *(_padded(s, first, last, padding) for s in sources), *extra, keep
            )
            for out, values in zip(outs, stored, strict=True):
                pad = (values.shape[3] - out.shape[3]) // 2
                rows = values[:, :, pad + keep[0] : pad + keep[1], pad : pad + out.shape[3]]
                out[:, :, start * ratio : stop * ratio] = rows
            moments.add(mean, mean_square, (stop - start) * ratio * width * ratio * phases)
        return moments

    def _residual(
        self,
        x: np.ndarray,
        arena: _Arena,
        norms: list[tuple[np.ndarray, np.ndarray]],
        step: Step,
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """The five residual blocks: the last block's input, its last layer and that one's norm.

        Each block's first pass also adds up the previous block (so no pass of its own),
        into the other of two buffers (strips read their neighbours' input rows).
        """
        epsilon = self.network.epsilon
        spare, y, h = (arena.quarter(slot) for slot in (_SPARE, _Y, _H))
        zero = np.zeros(x.shape[1], np.float32)
        norm: tuple[np.ndarray, np.ndarray] = (zero, zero)  # block 0: x + (0 * x + 0)
        previous = x
        for block, (conv1, conv2) in enumerate(self.network.piece_residual):
            moments = self._layer(
                conv1,
                (x, previous),
                [*norm],
                [spare, h],
                0,
                1,
                4,
                1,
                _RESIDUAL_TALLER,
                RESIDUAL_PADDING,
            )
            x, spare, previous = spare, x, y
            norm1 = moments.normalisation(*norms[2 * block], epsilon)
            moments = self._layer(
                conv2, (h,), [*norm1], [y], 0, 1, 4, 1, _RESIDUAL_TALLER, RESIDUAL_PADDING
            )
            norm = moments.normalisation(*norms[2 * block + 1], epsilon)
            step("residual")
        return x, y, norm

    def _contract(self, rgb: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Quarter-resolution features of ``rgb`` reflect-padded to multiples of 4, in ``out``."""
        height, width = rgb.shape[:2]
        padded_h, padded_w = (-(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE for n in (height, width))
        rows, columns = _reflect_index(height, padded_h), _reflect_index(width, padded_w)
        quarter_h = padded_h // SIZE_MULTIPLE
        strips = self._strips(quarter_h, _CONTRACT_HALO, 4, _CONTRACT_TALLER)
        for start, stop, first, last, core in strips:
            strip = rgb[rows[first * SIZE_MULTIPLE : last * SIZE_MULTIPLE]]
            if padded_w != width:
                strip = strip[:, columns]
            piece = self.network.piece_contract_unit if _deep(rgb) else self.network.piece_contract
            features = self.backend.run(piece, np.ascontiguousarray(strip)[None])[0]
            out[:, :, start:stop] = features[:, :, core[0] : core[1]]
        return out

    def _finish(
        self, final: np.ndarray, norm: tuple[np.ndarray, np.ndarray], rgb: np.ndarray
    ) -> np.ndarray:
        height, width = rgb.shape[:2]
        deep = _deep(rgb)
        finish = self.network.piece_finish_unit if deep else self.network.piece_finish
        out = fresh_memory(height * width * 3, np.dtype(np.float32 if deep else np.uint8))
        out = out.reshape(height, width, 3)
        for start, stop, first, last, _ in self._strips(final.shape[2], 0):
            piece = self.backend.run(finish, final[:, :, first:last], *norm)[0]
            rows = min(2 * stop, height) - 2 * start
            top = 2 * (start - first)
            out[2 * start : 2 * start + rows] = piece[0, top : top + rows, :width]
        return out


def _deep(rgb: np.ndarray) -> bool:
    """Float input (a 16-bit or float image): float pieces in and out, no 8-bit step."""
    return rgb.dtype == np.float32

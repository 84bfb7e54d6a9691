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
OpenVINO), about 1.1 GB at 8192 x 8192 (and 2-10 % more: each layer is stored as
the padded windows of the pass that reads it). Half of it is kept a few seconds
for the next job (``SpareMemory``).

Each strip is handed to its piece with one more row and column on each side for
the piece's first convolution (``StripLayer``: the neighbouring rows, or the image's
own padding at its edges), so that convolution sees what it would in the whole
image. A piece with a second convolution pads that one itself, so its strips carry
a halo of rows as wide as the second convolution's reach, and only their core rows
are kept. The result equals the whole-image computation up to float rounding,
with no seams (tests/test_strip_inference.py).
"""

from __future__ import annotations

import functools
import mmap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from stylize.engine.backends import Backend, Function
from stylize.engine.graphs import FastNetworks, Graph, RegionGraphs
from stylize.engine.network_layout import (
    EXPAND_PADDING,
    RESIDUAL_BLOCKS,
    RESIDUAL_PADDING,
    SIZE_MULTIPLE,
)
from stylize.engine.regions import LevelMaps, SpatialMix

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
# channels in and out), and their padding rows are a sixteenth of a 32-row strip.
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


@dataclass
class WeightedMoments:
    """Moments per style (regions): each style's per-channel mean and variance over the
    pixels it weights, merged over strips as :class:`Moments` with the strips' total
    weights as counts (Chan et al.)."""

    count: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [K, 1]
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [K, C]
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, mean: np.ndarray, variance: np.ndarray, count: np.ndarray) -> None:
        """One strip's weighted means and variances [K, C] and total weights [K]."""
        weight = count.astype(np.float64)[:, None]
        mean = mean.astype(np.float64)
        m2 = variance.astype(np.float64) * weight
        if not self.count.size:
            self.count, self.mean, self.m2 = weight, mean, m2
            return
        total = self.count + weight
        safe = np.where(total > 0, total, 1.0)
        delta = mean - self.mean
        self.mean = self.mean + delta * (weight / safe)
        self.m2 = self.m2 + m2 + delta**2 * (self.count * weight / safe)
        self.count = total

    def normalisation(
        self, gamma: np.ndarray, beta: np.ndarray, epsilon: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scale and shift [K, C]: each style's norm with its own moments, then its gamma/beta."""
        variance = self.m2 / np.where(self.count > 0, self.count, 1.0)
        scale = gamma / np.sqrt(variance + epsilon)
        return scale.astype(np.float32), (beta - self.mean * scale).astype(np.float32)


def spans(length: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, stop) pieces of ``range(length)``, ``step`` long (the last may be shorter)."""
    for start in range(0, length, step):
        yield start, min(start + step, length)


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


@dataclass(frozen=True)
class Windows:
    """The strips of the pass that reads a layer of ``length`` rows: each one's core rows
    [start, stop) and input window [first, last), stored with ``pad`` more rows and
    columns on every side (the neighbouring rows, or beyond the layer's edges its
    padding: ``mode`` is np.pad's "reflect" or "symmetric")."""

    length: int
    strips: tuple[tuple[int, int, int, int], ...]
    pad: int = 0
    mode: str = EXPAND_PADDING

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [(first, last) for _, _, first, last in self.strips]

    @property
    def mirror(self) -> int:
        """The padding's source beyond an edge: the row or column after the edge
        (reflect) or the edge itself (symmetric), counted inwards from the edge."""
        return 1 if self.mode == "reflect" else 0


class StripLayer:
    """A stored [1, C, H, W] layer laid out as the padded input windows of the pass that
    reads it, each one contiguous: the backend reads a window without a copy (a slice
    of rows of a channels-first layer is not contiguous, and copying the strips cost a
    tenth of a 67-MP image's time, BENCHMARKS.md). A write goes to every window that
    holds the rows, padding included."""

    def __init__(self, memory: np.ndarray, channels: int, width: int, windows: Windows) -> None:
        self.width, self.windows = width, windows
        self._views: list[np.ndarray] = []
        offset = 0
        for shape in self._shapes(channels, width, windows):
            size = int(np.prod(shape))
            self._views.append(memory[offset : offset + size].reshape(shape))
            offset += size

    @staticmethod
    def _shapes(channels: int, width: int, windows: Windows) -> list[tuple[int, ...]]:
        pad = windows.pad
        return [
            (1, channels, last - first + 2 * pad, width + 2 * pad) for first, last in windows.spans
        ]

    @classmethod
    def items(cls, channels: int, width: int, windows: Windows) -> int:
        """How many items of memory the layer needs."""
        return sum(int(np.prod(shape)) for shape in cls._shapes(channels, width, windows))

    def window(self, index: int) -> np.ndarray:
        return self._views[index]

    def write(self, start: int, values: np.ndarray) -> None:
        """Rows [start, start + n) of the layer, from ``values`` [1, C, n, W]."""
        stop, pad, length = start + values.shape[2], self.windows.pad, self.windows.length
        mirror = self.windows.mirror
        for (first, last), view in zip(self.windows.spans, self._views, strict=True):
            low, high = max(start, first - pad, 0), min(stop, last + pad, length)
            if low < high:
                self._put(view, low - first + pad, values[:, :, low - start : high - start])
            if pad and first == 0 and start <= mirror < stop:
                self._put(view, 0, values[:, :, mirror - start : mirror - start + 1])
            edge = length - 1 - mirror
            if pad and last == length and start <= edge < stop:
                self._put(view, view.shape[2] - 1, values[:, :, edge - start : edge - start + 1])

    def _put(self, view: np.ndarray, row: int, values: np.ndarray) -> None:
        rows = view[:, :, row : row + values.shape[2]]
        if not self.windows.pad:
            rows[...] = values
            return
        mirror = self.windows.mirror
        rows[:, :, :, 1:-1] = values
        rows[:, :, :, 0] = rows[:, :, :, 1 + mirror]
        rows[:, :, :, -1] = rows[:, :, :, -2 - mirror]


class MapWindows:
    """A spatial mix's weights at one layer's resolution ([K, H, W], channels first) over
    the strips of ``windows``, padded as :class:`StripLayer` pads the layer they weight
    (or, ``padded`` False, the windows' rows alone; ``ratio`` map rows per window row),
    channels first or (``last``) last. K channels, copied per strip: small beside the
    layers' 32. ``maps`` may be a function of [first, last) rows instead (unpadded: the
    full-resolution maps' phased layout, made per strip, ``LevelMaps.phased``)."""

    def __init__(
        self,
        maps: np.ndarray | Callable[[int, int], np.ndarray],
        windows: Windows,
        padded: bool = True,
        ratio: int = 1,
        last: bool = False,
    ) -> None:
        pad = windows.pad if padded else 0
        padding = ((0, 0), (pad, pad), (pad, pad))
        if callable(maps):
            assert not pad, "maps made per strip are unpadded"
            self._rows = maps
        else:
            if pad:
                maps = np.pad(
                    maps, padding, "reflect" if windows.mode == "reflect" else "symmetric"
                )
            self._rows = functools.partial(_rows, maps)
        self._spans, self._pad, self._ratio, self._last = windows.spans, pad, ratio, last

    def window(self, index: int) -> np.ndarray:
        """Strip ``index``'s rows, padded, in float32 (the maps are stored in 16 bits)."""
        first, last = (self._ratio * n for n in self._spans[index])
        window = self._rows(first, last + 2 * self._pad)
        return np.ascontiguousarray(
            np.transpose(window, (1, 2, 0)) if self._last else window, np.float32
        )[None]


def _rows(maps: np.ndarray, first: int, last: int) -> np.ndarray:
    return maps[:, first:last]


@dataclass(frozen=True)
class _Regions:
    """A spatial mix's weights laid out for every pass that normalises (``_Plan``): each
    piece's per-pixel scale and shift take its input's layout (channels first, padded),
    its moments the output's rows, channels last."""

    residual: MapWindows  # quarter resolution, the residual blocks' strips
    residual_out: MapWindows  # the same rows unpadded, channels last (their moments)
    expand1: MapWindows  # quarter resolution, expand 1's strips
    expand1_out: MapWindows  # half resolution, expand 1's output rows, channels last
    half: MapWindows  # half resolution, padded: the expand-2 moments and expand 3
    phased: MapWindows  # full resolution (phased), expand 3's strips' rows, channels last
    final: MapWindows  # full resolution (phased), the last pass's strips

    @classmethod
    def of(cls, maps: LevelMaps, plan: _Plan) -> _Regions:
        return cls(
            residual=MapWindows(maps.quarter, plan.residual),
            residual_out=MapWindows(maps.quarter, plan.residual, padded=False, last=True),
            expand1=MapWindows(maps.quarter, plan.expand1),
            expand1_out=MapWindows(maps.half, plan.expand1, padded=False, ratio=2, last=True),
            half=MapWindows(maps.half, plan.half),
            phased=MapWindows(maps.phased, plan.half, padded=False, last=True),
            final=MapWindows(maps.phased, plan.final, padded=False),
        )


class _Arena:
    """The stored layers' memory, allocated once per image (fresh pages cost time, and
    every byte counts at 67 MP): two allocations of two quarter-resolution 32-channel
    slots each, ``a`` = slots 0-1 and ``b`` = slots 2-3, the second made only after the
    contract layers (whose own scratch is large). The residual blocks' inputs alternate
    between slots 0 and 2, starting in 0; after an odd number of blocks the last one's
    input is in slot 2 and its last layer in slot 3, so expand 1 writes the
    half-resolution 16-channel layer into ``a``, and expand 3 the final 12-channel layer
    into ``b``; ``a`` is freed before the output image is made. Each slot is sized for
    the largest layout (``StripLayer``) it will hold."""

    def __init__(self, slot: int, a: int, b: int, dtype: np.dtype) -> None:
        self._slot, self._sizes, self._dtype = slot, (max(a, 2 * slot), max(b, 2 * slot)), dtype
        self._halves: list[np.ndarray | None] = [None, None]

    def _memory(self, half: int) -> np.ndarray:
        memory = self._halves[half]
        if memory is None:
            memory = self._halves[half] = SPARE.take(self._sizes[half], self._dtype)
        return memory

    def quarter(self, slot: int, windows: Windows, width: int) -> StripLayer:
        start = slot % 2 * self._slot
        return StripLayer(self._memory(slot // 2)[start : start + self._slot], 32, width, windows)

    def half(self, windows: Windows, width: int) -> StripLayer:
        return StripLayer(self._memory(0), 16, width, windows)

    def final(self, windows: Windows, width: int) -> StripLayer:
        return StripLayer(self._memory(1), 12, width, windows)

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


@dataclass(frozen=True)
class _Plan:
    """Every pass's windows for one image size (``width``: quarter-resolution columns)."""

    width: int
    residual: Windows  # the residual blocks' inputs
    expand1: Windows  # the last block's outputs, read by expand 1
    half: Windows  # expand 1's output, read by the expand-2 moments and expand 3
    final: Windows  # expand 3's output, read by the last pass


class StripRunner:
    """Runs the transformer's pieces (``graphs.FastNetworks``) through ``backend`` in strips
    of ``rows`` rows."""

    def __init__(self, network: FastNetworks, backend: Backend, rows: int = 256) -> None:
        if rows % (2 * SIZE_MULTIPLE):
            raise ValueError(f"strip rows must be a multiple of {2 * SIZE_MULTIPLE}")
        self.network = network
        self.backend = backend
        self.rows = rows  # full-resolution rows per strip
        self._regions: _Regions | None = None  # a spatial mix's weights, for the job's run
        self._mixed: RegionGraphs | None = None  # and the regions pieces for its K

    def run(
        self, rgb: np.ndarray, style: np.ndarray | SpatialMix, step: Step, stop_if: StopCheck
    ) -> np.ndarray:
        """uint8 [H, W, 3] -> stylized uint8; float32 in [0, 1] -> float32 in [0, 1].

        ``style``: a vector, or a spatial mix (engine/regions.py) at ``rgb``'s size, whose
        weights go through the strips beside the layers (the ``*_regions`` pieces)."""
        self._stop_if = stop_if
        self.backend.release_scratch()  # the whole-image graphs' memory, before the arena's
        plan = self._plan(*(-(-n // SIZE_MULTIPLE) for n in rgb.shape[:2]))
        width = plan.width
        slot = max(StripLayer.items(32, width, w) for w in (plan.residual, plan.expand1))
        arena = _Arena(
            slot,
            StripLayer.items(16, 2 * width, plan.half),
            StripLayer.items(12, 2 * width, plan.final),
            self.backend.storage,
        )
        regions, network = None, self.network
        if isinstance(style, SpatialMix):
            maps = style.levels(4 * plan.residual.length, 4 * width)
            regions = _Regions.of(maps, plan)
            norms = network.norm_params_mixed(style.vectors)
            self._mixed = network.regions(len(style.vectors))
        else:
            norms = network.norm_params(style)
        self._regions = regions
        try:
            return self._passes(rgb, norms, arena, plan, step)
        finally:
            arena.close()

    def _plan(self, height: int, width: int) -> _Plan:
        def windows(length: int, halo: int, unit: int, taller: int, pad: int, mode: str) -> Windows:
            return Windows(length, tuple(self._strips(length, halo, unit, taller)), pad, mode)

        return _Plan(
            width,
            residual=windows(height, 0, 4, _RESIDUAL_TALLER, 1, RESIDUAL_PADDING),
            expand1=windows(height, 0, 4, 1, 1, EXPAND_PADDING),
            half=windows(2 * height, _EXPAND3_HALO, 2, 1, 1, EXPAND_PADDING),
            final=windows(2 * height, 0, 2, 1, 0, EXPAND_PADDING),
        )

    def _passes(
        self,
        rgb: np.ndarray,
        norms: list[tuple[np.ndarray, np.ndarray]],
        arena: _Arena,
        plan: _Plan,
        step: Step,
    ) -> np.ndarray:
        network, epsilon, width = self.network, self.network.epsilon, plan.width
        x = self._contract(rgb, arena.quarter(_X, plan.residual, width))
        step("contract")
        x, y, norm = self._residual(x, arena, plan, norms, step)
        half = arena.half(plan.half, 2 * width)
        piece, maps = self._pick(network.piece_expand1, "expand1", "expand1_out")
        moments1 = self._layer(piece, (x, y), [*norm], [half], 2, maps=maps)
        del x, y  # their bytes become the final layer's
        step("expand")
        norm1 = moments1.normalisation(*norms[-3], epsilon)
        piece, maps = self._pick(network.piece_expand2_moments, "half", "phased")
        moments2 = self._layer(piece, (half,), [*norm1], [], 1, 4, maps=maps)
        step("expand")
        norm2 = moments2.normalisation(*norms[-2], epsilon)
        final = arena.final(plan.final, 2 * width)
        piece, maps = self._pick(network.piece_expand3, "half", "phased")
        moments3 = self._layer(piece, (half,), [*norm1, *norm2], [final], 1, 4, maps=maps)
        del half
        arena.free_half()
        step("expand")
        return self._finish(final, moments3.normalisation(*norms[-1], epsilon), rgb)

    def _pick(self, plain: Graph, *names: str) -> tuple[Function, tuple[MapWindows, ...]]:
        """A pass's piece, and the weights it takes (``_Regions``' fields ``names``): the
        plain piece without regions, the mixed one of the same name with them."""
        if self._regions is None or self._mixed is None:
            return plain, ()
        mixed = self._mixed[plain.name]
        return mixed, tuple(getattr(self._regions, name) for name in names)

    def _strips(
        self, length: int, halo: int, unit: int = 2, taller: int = 1
    ) -> list[tuple[int, int, int, int]]:
        """Each strip's core [start, stop) and input window [first, last).

        Every window has the same height (the first and last are shifted inwards, seeing
        more context instead of less): a runtime prepares its kernels once per input
        shape, and a new image size then costs one shape per pass, not three.
        """
        step = taller * self.rows // unit
        window = min(length, step + 2 * halo)
        strips = []
        for start, stop in spans(length, step):
            first = min(max(0, start - halo), length - window)
            strips.append((start, stop, first, first + window))
        return strips

    def _layer(
        self,
        piece: Function,
        sources: tuple[StripLayer, ...],
        extra: list[np.ndarray],
        outs: list[StripLayer],
        ratio: int,
        phases: int = 1,
        maps: tuple[MapWindows, ...] = (),
    ) -> Moments | WeightedMoments:
        """One pass of a piece over the strips its sources are laid out for: stores its
        outputs in ``outs`` and returns their moments. ``ratio``: output rows per input row.

        An output one row and column wider on each side than ``outs`` (a residual block's
        sum, formed on the padded strip) is cropped as it is stored. ``maps``: a spatial
        mix's weights over the same strips, passed after the sources.
        """
        width = sources[0].width
        moments: Moments | WeightedMoments = Moments() if not maps else WeightedMoments()
        for index, (start, stop, first, _) in enumerate(sources[0].windows.strips):
            self._stop_if()
            keep = np.array([start - first, stop - first], np.int32) * ratio
            outputs = self.backend.run(
                piece,
                *(s.window(index) for s in sources),
                *(m.window(index) for m in maps),
                *extra,
                keep,
            )
            if isinstance(moments, WeightedMoments):  # each style's, with its weight
                *stored, mean, variance, total = outputs
                moments.add(mean, variance, total)
            else:
                *stored, mean, mean_square = outputs
                moments.add(mean, mean_square, (stop - start) * ratio * width * ratio * phases)
            for out, values in zip(outs, stored, strict=True):
                pad = (values.shape[3] - out.width) // 2
                out.write(
                    start * ratio,
                    values[:, :, pad + keep[0] : pad + keep[1], pad : pad + out.width],
                )
        return moments

    def _residual(
        self,
        x: StripLayer,
        arena: _Arena,
        plan: _Plan,
        norms: list[tuple[np.ndarray, np.ndarray]],
        step: Step,
    ) -> tuple[StripLayer, StripLayer, tuple[np.ndarray, np.ndarray]]:
        """The five residual blocks: the last block's input, its last layer and that one's norm.

        Each block's first pass also adds up the previous block (so no pass of its own),
        into the other of two slots (strips read their neighbours' input rows). The last
        block's outputs are laid out for expand 1's strips.
        """
        epsilon, width = self.network.epsilon, plan.width
        h = arena.quarter(_H, plan.residual, width)
        zero = np.zeros(norms[0][0].shape, np.float32)  # [32], or [K, 32] with regions
        norm: tuple[np.ndarray, np.ndarray] = (zero, zero)  # block 0: x + (0 * x + 0)
        previous, slots = x, (_X, _SPARE)
        for block, (plain1, plain2) in enumerate(self.network.piece_residual):
            conv1, maps = self._pick(plain1, "residual", "residual_out")
            conv2, _ = self._pick(plain2)
            windows = plan.expand1 if block == RESIDUAL_BLOCKS - 1 else plan.residual
            block_input = arena.quarter(slots[(block + 1) % 2], windows, width)
            moments = self._layer(conv1, (x, previous), [*norm], [block_input, h], 1, maps=maps)
            norm1 = moments.normalisation(*norms[2 * block], epsilon)
            y = arena.quarter(_Y, windows, width)
            moments = self._layer(conv2, (h,), [*norm1], [y], 1, maps=maps)
            norm = moments.normalisation(*norms[2 * block + 1], epsilon)
            x, previous = block_input, y
            step("residual")
        return x, previous, norm

    def _contract(self, rgb: np.ndarray, out: StripLayer) -> StripLayer:
        """Quarter-resolution features of ``rgb`` reflect-padded to multiples of 4, in ``out``."""
        height, width = rgb.shape[:2]
        padded_h, padded_w = (-(-n // SIZE_MULTIPLE) * SIZE_MULTIPLE for n in (height, width))
        rows, columns = _reflect_index(height, padded_h), _reflect_index(width, padded_w)
        quarter_h = padded_h // SIZE_MULTIPLE
        piece = self.network.contract if _deep(rgb) else self.network.contract_pixels
        for start, stop, first, last in self._strips(
            quarter_h, _CONTRACT_HALO, 4, _CONTRACT_TALLER
        ):
            self._stop_if()
            strip = rgb[rows[first * SIZE_MULTIPLE : last * SIZE_MULTIPLE]]
            if padded_w != width:
                strip = strip[:, columns]
            features = self.backend.run(piece, np.ascontiguousarray(strip)[None])[0]
            out.write(start, features[:, :, start - first : stop - first])
        return out

    def _finish(
        self, final: StripLayer, norm: tuple[np.ndarray, np.ndarray], rgb: np.ndarray
    ) -> np.ndarray:
        height, width = rgb.shape[:2]
        deep = _deep(rgb)
        network = self.network
        finish, maps = self._pick(
            network.piece_finish_unit if deep else network.piece_finish, "final"
        )
        out = fresh_memory(height * width * 3, np.dtype(np.float32 if deep else np.uint8))
        out = out.reshape(height, width, 3)
        for index, (start, stop, first, _) in enumerate(final.windows.strips):
            self._stop_if()
            weights = [m.window(index) for m in maps]
            piece = self.backend.run(finish, final.window(index), *weights, *norm)[0]
            rows = min(2 * stop, height) - 2 * start
            top = 2 * (start - first)
            out[2 * start : 2 * start + rows] = piece[0, top : top + rows, :width]
        return out


def _deep(rgb: np.ndarray) -> bool:
    """Float input (a 16-bit or float image): float pieces in and out, no 8-bit step."""
    return rgb.dtype == np.float32

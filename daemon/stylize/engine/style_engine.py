"""The arbitrary-style engine: style images -> vectors, content + vector -> stylized image.

Knows nothing of gRPC or GIMP. Progress is reported through a callback with a
small dataclass and cancellation is polled between network stages, so the
same engine serves the daemon, the CLI's ``--local`` mode and the benchmark.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np
from PIL import Image

from stylize.engine import guided_upsampling, memory_budget, pixel_ops
from stylize.engine.backends import Backend, choose_backend, tensorflow_gpus
from stylize.engine.errors import CancelledError
from stylize.engine.graphs import (
    NETWORK_MODULES,
    FastNetworks,
    RegionGraphs,
    is_regions_graph,
    module_source,
)
from stylize.engine.idle_memory import IdleRelease, trim_heap
from stylize.engine.images import Depth, PixelMode, Pixels, to_unit
from stylize.engine.network_layout import SIZE_MULTIPLE
from stylize.engine.regions import RegionStyle, SpatialMix, StyleRegions
from stylize.engine.strip_inference import PASSES, SPARE, StripRunner
from stylize.engine.stroke_scale import DEFAULT_STROKE_SCALE, working_size
from stylize.models.provenance import ModelFile, model_file

log = logging.getLogger(__name__)

DEFAULT_STYLE_SIZE = 256  # the predictor was trained on 256x256 style images
# Above this many pixels, or where the whole image's working set does not fit in the
# memory budget, the network runs layer by layer in strips (engine/strip_inference.py):
# the same result in a sixth of the memory, at 1.0-1.1x the time per pixel
# (BENCHMARKS.md, bench/flat_rate.py).
MAX_WHOLE_PIXELS = 25_000_000  # 6000 x 4000 runs whole (3.3 GB); 8192^2 in strips
STRIP_PIXELS = 1 << 20  # about this many full-resolution pixels per strip
NETWORK_SHARE = 0.9  # of the stylizing step's progress when the result is upsampled after


@dataclass(frozen=True)
class StylePreprocess:
    """How a style image becomes the predictor's input."""

    size: int = DEFAULT_STYLE_SIZE
    crop: bool = True  # centre-crop to a square first (else the whole image is squashed)


@dataclass(frozen=True)
class StylizeOptions:
    max_side: int = 0  # 0: no cap; else the working size's long side is at most this
    preserve_colors: bool = False  # keep the content's chroma, take the stylized luminance
    stroke_scale: float = DEFAULT_STROKE_SCALE  # engine/stroke_scale.py


@dataclass(frozen=True)
class StylizeProgress:
    """Fraction in [0, 1] of the stylizing step, after each network stage."""

    fraction: float
    stage: str


ProgressCallback = Callable[[StylizeProgress], None]
CancelCheck = Callable[[], bool]
P = ParamSpec("P")
T = TypeVar("T")


def _job(
    method: Callable[Concatenate[StyleEngine, P], T],
) -> Callable[Concatenate[StyleEngine, P], T]:
    """A method that is a job: the engine gives memory back once none has run for a while."""

    @functools.wraps(method)
    def job(engine: StyleEngine, *args: P.args, **kwargs: P.kwargs) -> T:
        with engine.idle.job():
            return method(engine, *args, **kwargs)

    return job


def _device_name(backend: Backend) -> str:
    threads = getattr(backend, "threads", None)
    if threads:  # OpenVINO: no TensorFlow to ask
        return f"CPU ({threads} threads) via {backend.name}"
    import tensorflow as tf

    gpus = tensorflow_gpus()
    if gpus and backend.name == "tensorflow":
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU:0 ({details.get('device_name', 'unknown')}) via {backend.name}"
    threads = tf.config.threading.get_intra_op_parallelism_threads() or "all"
    return f"CPU ({threads} threads) via {backend.name}"


def strip_rows_for(width: int) -> int:
    """Rows per strip: about STRIP_PIXELS pixels, a multiple of 8, at least 64."""
    return max(64, STRIP_PIXELS // max(width, 1) // 8 * 8)


def _to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) * np.float32(1.0 / 255.0)


def _style_input(pixels: Pixels, preprocess: StylePreprocess) -> np.ndarray:
    image = pixel_ops.on_white(pixels)  # transparent areas of a style image read as white paper
    if preprocess.crop:
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    image = image.resize((preprocess.size, preprocess.size), Image.Resampling.LANCZOS)
    return _to_float(np.asarray(image))[None]


def _pad_to_multiple(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    pad_h, pad_w = (-height) % SIZE_MULTIPLE, (-width) % SIZE_MULTIPLE
    if not (pad_h or pad_w):
        return image  # np.pad would copy the whole image for nothing
    return np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")


class StyleEngine:
    """Loads the verified pretrained networks once; thread-safe for concurrent calls."""

    def __init__(
        self,
        max_whole_pixels: int = MAX_WHOLE_PIXELS,
        strip_rows: int = 0,
        budget: memory_budget.MemoryBudget | None = None,
        backend: Backend | None = None,
    ) -> None:
        started = time.perf_counter()
        self.budget = budget if budget is not None else memory_budget.MemoryBudget()
        self.max_whole_pixels = max_whole_pixels
        self.strip_rows = strip_rows  # 0: strip_rows_for(width)
        self.backend = backend or choose_backend()
        self.predictor_file: ModelFile = model_file("style_predictor")
        self.transformer_file: ModelFile = model_file("transformer")
        # Graph handles: TensorFlow builds the networks only to convert or run them.
        self._networks = FastNetworks(self.predictor_file.path, self.transformer_file.path)
        self._predictor, self._transformer = self._networks.predictor, self._networks
        self._regions_lock = threading.Lock()
        self._prepare()
        self.device = _device_name(self.backend)
        self.idle = IdleRelease(self.release_memory)
        log.info(
            "models loaded in %.2fs on %s: %s",
            time.perf_counter() - started,
            self.device,
            self.backend.reason,
        )

    def _prepare(self) -> None:
        """Name every graph for the backend (its cache keys, and which free their scratch)."""
        functions: dict[str, Callable[..., object]] = dict(self._networks.graphs)
        # Strip pieces and the regions graphs (larger scratch, rarely run) free their
        # scratch when the thread moves on to another graph.
        passes = {n for n in functions if n.startswith("piece_") or is_regions_graph(n)}
        self.backend.prepare(functions, self._namespace(), precise={"predictor"}, passes=passes)

    def _regions(self, styles: int) -> RegionGraphs:
        """The regions graphs for K = ``styles``, named for the backend on first use."""
        with self._regions_lock:
            known = len(self._networks.graphs)
            graphs = self._networks.regions(styles)
            if len(self._networks.graphs) != known:
                self._prepare()
            return graphs

    def _namespace(self) -> str:
        """Changes with the weights, the network code, the runtime and the storage dtype."""
        digest = hashlib.sha256()
        for part in (self.predictor_file.sha256, self.transformer_file.sha256):
            digest.update(part.encode())
        for module in NETWORK_MODULES:
            digest.update(module_source(module))
        digest.update(f"{self.backend.name} {self.backend.storage_name}".encode())
        digest.update(getattr(self.backend, "runtime_version", "").encode())
        return digest.hexdigest()[:16]

    def warm_up(self) -> None:
        """Compile and run every graph once (whole and strips) so no request pays for it."""
        self.warm_up_common()
        self.warm_up_rest()

    def warm_up_common(self) -> None:
        """What most requests need: the style predictor and the 8-bit whole-image graphs."""
        started = time.perf_counter()
        self.style_vector(Pixels(np.zeros((64, 64, 3), np.uint8), PixelMode.RGB))
        vector = np.zeros((1, 100), np.float32)
        self._run_whole(np.zeros((1, 64, 64, 3), np.uint8), vector, None, None)
        log.info("warm-up of the common graphs done in %.2fs", time.perf_counter() - started)

    def warm_up_rest(self, pause: Callable[[], bool] = lambda: True) -> None:
        """The rest: guided upsampling (SciPy), 16-bit/float content's graphs, the strip
        pieces (and with them ml_dtypes and the norms' weights, read with onnx: about a
        second). The daemon runs it after SERVING, step by step, calling ``pause`` before
        each (it waits while a job runs; False: stop here); a job that needs a part
        meanwhile waits for that part only (the import lock, the backend's compile lock)."""
        started = time.perf_counter()
        vector = np.zeros(100, np.float32)
        small, pixels = np.zeros((32, 32, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
        steps: list[Callable[[], object]] = [
            lambda: guided_upsampling.upsample(small, small, pixels),
            lambda: self._run_whole(np.zeros((1, 64, 64, 3), np.float32), vector[None], None, None),
            lambda: self._transformer.norm_params(vector),  # onnx, ml_dtypes: the slowest
        ]
        pieces = [
            graph
            for name, graph in self._networks.graphs.items()
            if name.startswith("piece_") and not is_regions_graph(name)  # on first use
        ]
        steps += [functools.partial(self.backend.compile, piece) for piece in pieces]
        for dtype in (np.uint8, np.float32):  # run once: the first run allocates
            image = np.zeros((64, 64, 3), dtype)
            steps.append(functools.partial(self._run_in_strips, image, vector, None, None))
        for step in steps:
            if not pause():
                return
            step()
        log.info("warm-up of the other graphs done in %.2fs", time.perf_counter() - started)

    def release_memory(self) -> None:
        """Give memory an idle engine does not need back to the OS: the strip arena kept
        for a next job, the whole-image graphs' scratch, the heap's free pages."""
        SPARE.clear()
        self.backend.release_idle()
        trimmed = trim_heap()
        log.debug("idle: memory released (heap trimmed=%s)", trimmed)

    def style_vector(
        self, pixels: Pixels, preprocess: StylePreprocess = StylePreprocess()
    ) -> np.ndarray:
        """The 100-d style vector of an image."""
        style = _style_input(pixels, preprocess)
        return np.array(self.backend.run(self._predictor, style)[0][0])

    @_job
    def stylize(
        self,
        content: Pixels,
        vector: np.ndarray | StyleRegions,
        options: StylizeOptions = StylizeOptions(),
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> Pixels:
        """Stylize ``content`` with ``vector``; the result has the content's size, mode and depth.

        ``vector`` is a (mixed) style vector, or a :class:`StyleRegions`: styles in regions
        of the picture and a strength that may vary, blended inside the network
        (engine/regions.py; its masks are checked against the content, InvalidInputError
        naming ``styles[i].region`` or ``strength_map``). The content's own vector, if the
        regions need it and do not carry it, is computed here with the default
        preprocessing.

        The network runs at :func:`working_size`; a smaller working size comes back to
        full size by edge-aware upsampling guided by the content (engine/guided_upsampling.py).
        16-bit and float content is fed to the network in float32 and read back in
        float32 (no 8-bit step). Float samples outside 0..1 (HDR): the network paints
        the image clipped to 0..1 and the part outside is added back to its result.
        """
        rgb = content.rgb()
        outside = None
        if content.depth is Depth.U16:
            rgb = to_unit(rgb)  # already in 0..1
        elif content.depth is Depth.F32:
            clipped = np.clip(rgb, 0.0, 1.0)
            if not np.array_equal(clipped, rgb):
                outside = rgb - clipped
            rgb = clipped
        width, height = working_size(
            content.width, content.height, options.stroke_scale, options.max_side
        )
        style: np.ndarray | SpatialMix = (
            vector.resolve(
                content.width, content.height, width, height, lambda: self.style_vector(content)
            )
            if isinstance(vector, StyleRegions)
            else vector
        )
        if (width, height) == (content.width, content.height):
            stylized = self._run_network(rgb, style, progress, cancelled)
        else:
            seen = pixel_ops.resize(rgb, width, height)
            low = self._run_network(seen, style, _share(progress, NETWORK_SHARE), cancelled)
            stylized = self._upsample(low, seen, rgb)
            if progress is not None:
                progress(StylizeProgress(fraction=1.0, stage="upsample"))
        if options.preserve_colors and not content.mode.is_gray:
            stylized = pixel_ops.keep_colours(stylized, rgb)
        if outside is not None:
            stylized = stylized + outside
        return pixel_ops.in_mode_of(content, stylized)

    def _upsample(self, low: np.ndarray, seen: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        needed = rgb.nbytes + guided_upsampling.scratch_bytes(width)  # the result + strips
        with self.budget.reserve(needed, f"upsampling to {width}x{height}"):
            return guided_upsampling.upsample(low, seen, rgb)

    def _run_network(
        self,
        rgb: np.ndarray,
        vector: np.ndarray | SpatialMix,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        """uint8 RGB -> uint8 RGB; float32 RGB in [0, 1] -> float32 RGB in [0, 1].

        ``vector``: one style vector, or a spatial mix at ``rgb``'s size."""
        height, width = rgb.shape[:2]
        deep = rgb.dtype == np.float32
        strips = height * width > self.max_whole_pixels or not self._whole_fits(width, height, deep)
        per_pixel = memory_budget.network_bytes(1, 1, strips, deep)
        needed = memory_budget.network_bytes(width, height, strips, deep)
        if isinstance(vector, SpatialMix):
            needed += vector.extra_bytes(strips)
        with self.budget.reserve(needed, f"a {width}x{height} image", per_pixel):
            if strips:
                return self._run_in_strips(rgb, vector, progress, cancelled)
            batch = _pad_to_multiple(rgb)[None]
            style = (
                vector
                if isinstance(vector, SpatialMix)
                else np.asarray(vector, np.float32).reshape(1, -1)
            )
            return self._run_whole(batch, style, progress, cancelled)[:height, :width]

    def _whole_fits(self, width: int, height: int, deep: bool) -> bool:
        """Whether the whole-image working set fits beside what other jobs hold now."""
        needed = memory_budget.network_bytes(width, height, strips=False, deep=deep)
        return needed <= self.budget.capacity - self.budget.reserved

    def _run_whole(
        self,
        batch: np.ndarray,
        style: np.ndarray | SpatialMix,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        network, run = self._transformer, self.backend.run
        deep = batch.dtype == np.float32  # 16-bit or float content: float32 in and out
        contract = network.contract if deep else network.contract_pixels
        residual_in: tuple[np.ndarray, ...]
        expand_in: tuple[np.ndarray, ...]
        if isinstance(style, SpatialMix):  # the norms mixed per pixel (engine/regions.py)
            maps = style.levels(batch.shape[1], batch.shape[2])
            mixed = self._regions(len(style.vectors))
            residual = mixed.residual
            residual_in = (style.vectors, *_both_layouts(maps.quarter))
            expand = mixed.expand if deep else mixed.expand_pixels
            expand_in = (style.vectors, *_both_layouts(maps.half), *_both_layouts(maps.phased()))
        else:
            residual, residual_in = network.residual, (style,)
            expand = network.expand if deep else network.expand_pixels
            expand_in = (style,)
        stages = (
            ("contract", 0.25, lambda x: run(contract, x)[0]),
            ("residual", 0.55, lambda x: run(residual, x, *residual_in)[0]),
            ("expand", 1.0, lambda x: run(expand, x, *expand_in)[0]),
        )
        x = batch
        for name, fraction, stage in stages:
            _stop_if(cancelled)
            x = stage(x)
            if progress is not None:
                progress(StylizeProgress(fraction=fraction, stage=name))
        _stop_if(cancelled)
        return np.array(x[0])  # the backend may reuse its output buffer

    def _run_in_strips(
        self,
        rgb: np.ndarray,
        vector: np.ndarray | SpatialMix,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        rows = self.strip_rows or strip_rows_for(rgb.shape[1])
        runner = StripRunner(self._transformer, self.backend, rows)
        done = 0

        def step(stage: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(StylizeProgress(fraction=min(done / PASSES, 1.0), stage=stage))

        _stop_if(cancelled)
        if isinstance(vector, SpatialMix):  # its K's pieces, named for the backend
            self._regions(len(vector.vectors))
        style = vector if isinstance(vector, SpatialMix) else np.asarray(vector, np.float32)
        return runner.run(rgb, style, step, lambda: _stop_if(cancelled))


def _share(progress: ProgressCallback | None, share: float) -> ProgressCallback | None:
    """``progress`` with its fractions scaled to the first ``share`` of the step."""
    if progress is None:
        return None
    report = progress

    def scaled(step: StylizeProgress) -> None:
        report(StylizeProgress(fraction=step.fraction * share, stage=step.stage))

    return scaled


def _both_layouts(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[K, H, W] weight maps as [1, K, H, W] and [1, H, W, K] (transformer_network.py), float32."""
    first = np.asarray(maps[None], np.float32)
    return first, np.ascontiguousarray(np.transpose(first[0], (1, 2, 0)))[None]


def _stop_if(cancelled: CancelCheck | None) -> None:
    if cancelled is not None and cancelled():
        raise CancelledError("the job was cancelled")


__all__ = [
    "PixelMode",
    "RegionStyle",
    "StyleEngine",
    "StylePreprocess",
    "StyleRegions",
    "StylizeOptions",
    "StylizeProgress",
]

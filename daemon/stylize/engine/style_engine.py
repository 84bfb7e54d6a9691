"""The arbitrary-style engine: style images -> vectors, content + vector -> stylized image.

Knows nothing of gRPC or GIMP. Progress is reported through a callback with a
small dataclass and cancellation is polled between network stages, so the
same engine serves the daemon, the CLI's ``--local`` mode and the benchmark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from PIL import Image

from stylize.engine import memory_budget
from stylize.engine.errors import CancelledError
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.strip_inference import StripRunner
from stylize.engine.style_predictor import StylePredictor
from stylize.engine.transformer_network import SIZE_MULTIPLE, TransformerNetwork
from stylize.models.onnx_weights import read_weights
from stylize.models.provenance import ModelFile, model_file

log = logging.getLogger(__name__)

DEFAULT_STYLE_SIZE = 256  # the predictor was trained on 256x256 style images
# Above this many pixels the network runs in strips (engine/strip_inference.py): the
# same result in a fraction of the memory, for a little more time.
MAX_WHOLE_PIXELS = 2048 * 2048


@dataclass(frozen=True)
class StylePreprocess:
    """How a style image becomes the predictor's input."""

    size: int = DEFAULT_STYLE_SIZE
    crop: bool = True  # centre-crop to a square first (else the whole image is squashed)


@dataclass(frozen=True)
class StylizeOptions:
    max_side: int = 0  # 0: full resolution; else downscale before and upscale after
    preserve_colors: bool = False  # keep the content's chroma, take the stylized luminance


@dataclass(frozen=True)
class StylizeProgress:
    """Fraction in [0, 1] of the stylizing step, after each network stage."""

    fraction: float
    stage: str


ProgressCallback = Callable[[StylizeProgress], None]
CancelCheck = Callable[[], bool]


def _device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU:0 ({details.get('device_name', 'unknown')})"
    return f"CPU ({tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads)"


def _to_float(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) * np.float32(1.0 / 255.0)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def _style_input(pixels: Pixels, preprocess: StylePreprocess) -> np.ndarray:
    image = pixels.to_pil()
    if pixels.mode.has_alpha:  # transparent areas of a style image read as white paper
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    image = image.convert("RGB")
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


def _preserve_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Stylized luminance with the content's chroma (Gatys et al. 2016, 'luminance-only')."""
    luma = Image.fromarray(stylized).convert("YCbCr").getchannel("Y")
    _, cb, cr = Image.fromarray(content).convert("YCbCr").split()
    return np.asarray(Image.merge("YCbCr", (luma, cb, cr)).convert("RGB"))


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


class StyleEngine:
    """Loads the verified pretrained networks once; thread-safe for concurrent calls."""

    def __init__(
        self,
        max_whole_pixels: int = MAX_WHOLE_PIXELS,
        strip_rows: int = 256,
        budget: memory_budget.MemoryBudget | None = None,
    ) -> None:
        started = time.perf_counter()
        self.budget = budget if budget is not None else memory_budget.MemoryBudget()
        self.max_whole_pixels = max_whole_pixels
        self.strip_rows = strip_rows
        self.predictor_file: ModelFile = model_file("style_predictor")
        self.transformer_file: ModelFile = model_file("transformer")
        self._predictor = StylePredictor(read_weights(self.predictor_file.path))
        self._transformer = TransformerNetwork(read_weights(self.transformer_file.path))
        self.device = _device_name()
        log.info("models loaded in %.2fs on %s", time.perf_counter() - started, self.device)

    def warm_up(self) -> None:
        """Trace and run both networks once so the first request is not slow."""
        started = time.perf_counter()
        self._predictor(np.zeros((1, DEFAULT_STYLE_SIZE, DEFAULT_STYLE_SIZE, 3), np.float32))
        vector = np.zeros((1, 100), np.float32)
        self._transformer(np.zeros((1, 64, 64, 3), np.float32), vector)
        log.info("warm-up done in %.2fs", time.perf_counter() - started)

    def style_vector(
        self, pixels: Pixels, preprocess: StylePreprocess = StylePreprocess()
    ) -> np.ndarray:
        """The 100-d style vector of an image."""
        return self._predictor(_style_input(pixels, preprocess)).numpy()[0]

    def stylize(
        self,
        content: Pixels,
        vector: np.ndarray,
        options: StylizeOptions = StylizeOptions(),
        progress: ProgressCallback | None = None,
        cancelled: CancelCheck | None = None,
    ) -> Pixels:
        """Stylize ``content`` with ``vector``; the result has the content's size and mode."""
        rgb = content.rgb()
        work = rgb
        if options.max_side and max(content.width, content.height) > options.max_side:
            scale = options.max_side / max(content.width, content.height)
            work = _resize(
                rgb, max(1, round(content.width * scale)), max(1, round(content.height * scale))
            )
        stylized = self._run_network(work, vector, progress, cancelled)
        if stylized.shape[:2] != rgb.shape[:2]:
            stylized = _resize(stylized, content.width, content.height)
        if options.preserve_colors and not content.mode.is_gray:
            stylized = _preserve_colors(stylized, rgb)
        return _in_mode_of(content, stylized)

    def _run_network(
        self,
        rgb: np.ndarray,
        vector: np.ndarray,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        height, width = rgb.shape[:2]
        strips = height * width > self.max_whole_pixels
        per_pixel = (
            memory_budget.STRIP_BYTES_PER_PIXEL if strips else memory_budget.WHOLE_BYTES_PER_PIXEL
        )
        needed = memory_budget.network_bytes(width, height, strips)
        with self.budget.reserve(needed, f"a {width}x{height} image", per_pixel):
            batch = _pad_to_multiple(_to_float(rgb))[None]
            style = np.asarray(vector, np.float32).reshape(1, -1)
            run = self._run_in_strips if strips else self._run_whole
            return _to_uint8(run(batch, style, progress, cancelled)[:height, :width])

    def _run_whole(
        self,
        batch: np.ndarray,
        style: np.ndarray,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        stages = (
            ("contract", 0.25, lambda x: self._transformer.contract(x)),
            ("residual", 0.55, lambda x: self._transformer.residual(x, style)),
            ("expand", 1.0, lambda x: self._transformer.expand(x, style)),
        )
        x = tf.convert_to_tensor(batch)
        for name, fraction, run in stages:
            _stop_if(cancelled)
            x = run(x)
            if progress is not None:
                progress(StylizeProgress(fraction=fraction, stage=name))
        _stop_if(cancelled)
        return x.numpy()[0]

    def _run_in_strips(
        self,
        batch: np.ndarray,
        style: np.ndarray,
        progress: ProgressCallback | None,
        cancelled: CancelCheck | None,
    ) -> np.ndarray:
        runner = StripRunner(self._transformer, self.strip_rows)
        total = runner.count_steps(batch.shape[1])
        done = 0

        def step(stage: str) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(StylizeProgress(fraction=min(done / total, 1.0), stage=stage))
            _stop_if(cancelled)

        _stop_if(cancelled)
        return runner.run(batch, style, step)


def _stop_if(cancelled: CancelCheck | None) -> None:
    if cancelled is not None and cancelled():
        raise CancelledError("the job was cancelled")


def _in_mode_of(content: Pixels, stylized_rgb: np.ndarray) -> Pixels:
    """Put the stylized colours into the content's pixel mode; alpha passes through."""
    if content.mode.is_gray:
        colour = np.asarray(Image.fromarray(stylized_rgb).convert("L"))[..., None]
    else:
        colour = stylized_rgb
    alpha = content.alpha()
    array = np.concatenate([colour, alpha], axis=2) if alpha is not None else colour
    return Pixels(array=np.ascontiguousarray(array), mode=content.mode)


__all__ = [
    "PixelMode",
    "StyleEngine",
    "StylePreprocess",
    "StylizeOptions",
    "StylizeProgress",
]

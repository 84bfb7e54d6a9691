"""One stylize or predict-style request, from source bytes to result pixels.

Transport-neutral: the gRPC servicer and the CLI's ``--local`` mode both turn
their input into these dataclasses and call :func:`run_stylize`. Decoding
happens here, inside the bounded job slot, so a flood of large images cannot
decode in parallel beyond the daemon's concurrency limit.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stylize.engine import images, style_mixing
from stylize.engine.images import ImageLimits, PixelMode, Pixels
from stylize.engine.style_cache import StyleVectorCache, cache_key
from stylize.engine.style_engine import (
    StyleEngine,
    StylePreprocess,
    StylizeOptions,
    StylizeProgress,
)
from stylize.style_library import StyleLibrary


class Stage(enum.Enum):
    QUEUED = "queued"
    RECEIVING = "receiving"
    PREDICTING_STYLE = "predicting style"
    STYLIZING = "stylizing"
    ENCODING = "encoding"


@dataclass(frozen=True)
class JobProgress:
    stage: Stage
    fraction: float  # of the whole job
    message: str


@dataclass(frozen=True)
class EncodedSource:
    data: bytes


@dataclass(frozen=True)
class RawSource:
    data: bytes
    width: int
    height: int
    mode: PixelMode


@dataclass(frozen=True)
class VectorSource:
    values: tuple[float, ...]


@dataclass(frozen=True)
class NamedSource:
    name: str


ImageSource = EncodedSource | RawSource
StyleSource = EncodedSource | RawSource | VectorSource | NamedSource


@dataclass(frozen=True)
class WeightedStyle:
    source: StyleSource
    weight: float


@dataclass(frozen=True)
class StylizeJob:
    content: ImageSource
    styles: tuple[WeightedStyle, ...]
    strength: float = 1.0
    preprocess: StylePreprocess = field(default_factory=StylePreprocess)
    options: StylizeOptions = field(default_factory=StylizeOptions)


@dataclass(frozen=True)
class JobResult:
    pixels: Pixels
    vector: np.ndarray
    seconds: float


Report = Callable[[JobProgress], None]
CancelCheck = Callable[[], bool]

# Share of the whole job each step takes, for one progress bar end to end.
_STYLE_SHARE = (0.0, 0.15)
_STYLIZE_SHARE = (0.15, 0.95)


def decode_image(source: ImageSource, limits: ImageLimits, what: str) -> Pixels:
    if isinstance(source, RawSource):
        return images.from_raw(source.data, source.width, source.height, source.mode, limits, what)
    return images.decode(source.data, limits, what)


class StyleResolver:
    """Turns style sources into vectors through the cache."""

    def __init__(
        self,
        engine: StyleEngine,
        library: StyleLibrary,
        cache: StyleVectorCache,
        limits: ImageLimits,
    ) -> None:
        self.engine = engine
        self.library = library
        self.cache = cache
        self.limits = limits

    def vector(
        self, source: StyleSource | ImageSource, preprocess: StylePreprocess, what: str
    ) -> np.ndarray:
        if isinstance(source, VectorSource):
            return style_mixing.check_vector(source.values, what)
        if isinstance(source, NamedSource):
            path = self.library.get(source.name).path
            source = EncodedSource(path.read_bytes())
        options = (preprocess.size, preprocess.crop)
        if isinstance(source, RawSource):
            key = cache_key(
                "raw", source.data, source.width, source.height, source.mode.name, *options
            )
        else:
            key = cache_key("encoded", source.data, *options)
        return self.cache.get_or_compute(
            key,
            lambda: self.engine.style_vector(decode_image(source, self.limits, what), preprocess),
        )


def run_stylize(
    resolver: StyleResolver, job: StylizeJob, report: Report, cancelled: CancelCheck
) -> JobResult:
    """Decode, predict and mix style vectors, apply strength, stylize."""
    started = time.perf_counter()
    strength = style_mixing.check_strength(job.strength)
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    content = decode_image(job.content, resolver.limits, "content image")
    report(JobProgress(Stage.PREDICTING_STYLE, _STYLE_SHARE[0], "predicting style vectors"))
    vectors = [
        resolver.vector(style.source, job.preprocess, f"style {index + 1}")
        for index, style in enumerate(job.styles)
    ]
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = resolver.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    report(
        JobProgress(
            Stage.STYLIZING, _STYLIZE_SHARE[0], f"stylizing {content.width}x{content.height}"
        )
    )

    def on_step(step: StylizeProgress) -> None:
        low, high = _STYLIZE_SHARE
        fraction = low + (high - low) * step.fraction
        report(JobProgress(Stage.STYLIZING, fraction, f"stylizing: {step.stage} done"))

    pixels = resolver.engine.stylize(content, mixed, job.options, on_step, cancelled)
    return JobResult(pixels=pixels, vector=mixed, seconds=time.perf_counter() - started)

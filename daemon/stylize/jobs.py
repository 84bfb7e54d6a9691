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
from stylize.engine.errors import CancelledError, InvalidInputError, StylizeError
from stylize.engine.images import MIN_SIDE, ImageLimits, PixelMode, Pixels
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


Buffer = bytes | bytearray  # uploads arrive in a bytearray and are used in place


@dataclass(frozen=True)
class EncodedSource:
    data: Buffer


@dataclass(frozen=True)
class RawSource:
    data: Buffer
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


def _with_field(error: StylizeError, field: str) -> StylizeError:
    if error.field is None:
        error.field = field
    return error


def check_job(job: StylizeJob, library: StyleLibrary, limits: ImageLimits) -> None:
    """Refuse, before any upload is read, what can be refused from the setup alone.

    Errors name the field at fault (``styles[1]``, ``strength``, ``options.max_side``),
    relative to the request's setup.
    """
    try:
        style_mixing.check_strength(job.strength)
    except StylizeError as error:
        raise _with_field(error, "strength") from None
    for index, style in enumerate(job.styles):
        try:
            check_style_source(style.source, library, limits, f"style {index + 1}")
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    try:
        style_mixing.normalised_weights([style.weight for style in job.styles])
    except style_mixing.WeightError as error:
        raise _with_field(error, f"styles[{error.index}].weight") from None
    max_side = job.options.max_side
    if max_side and max_side < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side is {max_side}; use 0 (full resolution) or at least {MIN_SIDE}",
            field="options.max_side",
        )


def check_style_source(
    source: StyleSource, library: StyleLibrary, limits: ImageLimits, what: str
) -> None:
    if isinstance(source, NamedSource):
        library.get(source.name)
    elif isinstance(source, VectorSource):
        style_mixing.check_vector(source.values, what)
    elif isinstance(source, RawSource):
        limits.check(source.width, source.height, what)
        expected = source.width * source.height * source.mode.channels
        if len(source.data) != expected:
            raise InvalidInputError(
                f"{what}: raw {source.mode.name} buffer has {len(source.data):,} bytes but "
                f"{source.width}x{source.height} needs {expected:,}"
            )
    elif not source.data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")


def _working_size(content: Pixels, max_side: int) -> tuple[int, int]:
    """The size the network runs at; refused if ``max_side`` leaves a side below MIN_SIDE."""
    width, height = content.width, content.height
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    if min(width, height) < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side {max_side} would stylize the {content.width}x{content.height} "
            f"content at {width}x{height}; its short side must stay at least {MIN_SIDE} pixels",
            field="options.max_side",
        )
    return width, height


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
        return self.cache.get_or_compute(key, lambda: self._predict(source, preprocess, what))

    def _predict(
        self, source: EncodedSource | RawSource, preprocess: StylePreprocess, what: str
    ) -> np.ndarray:
        """Decode (with the decoded pixels reserved in the memory budget) and predict."""
        width, height = (
            images.declared_size(source.data, what)
            if isinstance(source, EncodedSource)
            else (source.width, source.height)
        )
        self.limits.check(width, height, what)
        with self.engine.budget.reserve(width * height * 4, f"decoding {what}"):
            return self.engine.style_vector(decode_image(source, self.limits, what), preprocess)


def run_stylize(
    resolver: StyleResolver, job: StylizeJob, report: Report, cancelled: CancelCheck
) -> JobResult:
    """Decode, predict and mix style vectors, apply strength, stylize.

    A job cancelled while it waited for its slot stops here, before decoding anything.
    """
    started = time.perf_counter()
    if cancelled():
        raise CancelledError("the job was cancelled before it started")
    strength = style_mixing.check_strength(job.strength)
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    try:
        content = decode_image(job.content, resolver.limits, "content image")
    except StylizeError as error:
        raise _with_field(error, "content") from None
    work_width, work_height = _working_size(content, job.options.max_side)
    report(JobProgress(Stage.PREDICTING_STYLE, _STYLE_SHARE[0], "predicting style vectors"))
    vectors = []
    for index, style in enumerate(job.styles):
        try:
            vectors.append(resolver.vector(style.source, job.preprocess, f"style {index + 1}"))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = resolver.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    size = f"{work_width}x{work_height}"
    if (work_width, work_height) != (content.width, content.height):
        size += f" (scaled from {content.width}x{content.height})"
    report(JobProgress(Stage.STYLIZING, _STYLIZE_SHARE[0], f"stylizing at {size}"))

    def on_step(step: StylizeProgress) -> None:
        low, high = _STYLIZE_SHARE
        fraction = low + (high - low) * step.fraction
        report(JobProgress(Stage.STYLIZING, fraction, f"stylizing at {size}: {step.stage} done"))

    pixels = resolver.engine.stylize(content, mixed, job.options, on_step, cancelled)
    return JobResult(pixels=pixels, vector=mixed, seconds=time.perf_counter() - started)

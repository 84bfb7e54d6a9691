"""One stylize or predict-style request, from source bytes to result pixels.

Transport-neutral: the gRPC servicer and the CLI's ``--local`` mode both turn
their input into these dataclasses and call :func:`run_stylize`. Decoding
happens here, inside the bounded job slot, so a flood of large images cannot
decode in parallel beyond the daemon's concurrency limit.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from stylize.engine import colour_transfer, images, style_mixing
from stylize.engine.colour_transfer import ColourStats
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


class ColourMatch(enum.Enum):
    """Colour matching (Gatys et al. 2017, engine/colour_transfer.py)."""

    NONE = "none"  # the network's own colours
    CONTENT = "content"  # style images recoloured to the content's palette before prediction
    STYLE = "style"  # the result recoloured to the style images' palette


@dataclass(frozen=True)
class StylizeJob:
    content: ImageSource
    styles: tuple[WeightedStyle, ...]
    strength: float = 1.0
    preprocess: StylePreprocess = field(default_factory=StylePreprocess)
    options: StylizeOptions = field(default_factory=StylizeOptions)
    colour_match: ColourMatch = ColourMatch.NONE


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
    if job.colour_match is not ColourMatch.NONE:
        for index, style in enumerate(job.styles):
            if isinstance(style.source, VectorSource):
                raise InvalidInputError(
                    f"style {index + 1} is a style vector, which has no colours to match; send "
                    "the style image, or set options.color_match to none",
                    field=f"styles[{index}]",
                )
    if job.colour_match is ColourMatch.STYLE and job.options.preserve_colors:
        raise InvalidInputError(
            "options.color_match STYLE (the style's palette) contradicts preserve_colors "
            "(the content's colours); choose one",
            field="options.color_match",
        )
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
        self,
        source: StyleSource | ImageSource,
        preprocess: StylePreprocess,
        what: str,
        recolour: ColourStats | None = None,
    ) -> np.ndarray:
        """The style vector of ``source``, its image first recoloured to ``recolour`` if given."""
        if isinstance(source, VectorSource):
            return style_mixing.check_vector(source.values, what)
        image = self._image_source(source)
        options = (preprocess.size, preprocess.crop, recolour.digest() if recolour else "")
        if isinstance(image, RawSource):
            key = cache_key("raw", image.data, image.width, image.height, image.mode.name, *options)
        else:
            key = cache_key("encoded", image.data, *options)

        def predict() -> np.ndarray:
            with self._decoded(image, what) as pixels:
                if recolour is not None:
                    pixels = colour_transfer.match_pixels(pixels, recolour)
                return self.engine.style_vector(pixels, preprocess)

        return self.cache.get_or_compute(key, predict)

    def colour_stats(self, source: StyleSource, what: str) -> colour_transfer.ColourStats:
        """Colour statistics of a style image (a bare vector has none)."""
        if isinstance(source, VectorSource):
            raise InvalidInputError(
                f"{what} is a style vector, which has no colours to match; send the style "
                "image, or set options.color_match to none"
            )
        with self._decoded(self._image_source(source), what) as pixels:
            return colour_transfer.colour_stats(pixels.rgb())

    def _image_source(self, source: StyleSource | ImageSource) -> EncodedSource | RawSource:
        if isinstance(source, NamedSource):
            return EncodedSource(self.library.get(source.name).path.read_bytes())
        assert not isinstance(source, VectorSource)
        return source

    @contextlib.contextmanager
    def _decoded(self, source: EncodedSource | RawSource, what: str) -> Iterator[Pixels]:
        """Decode, with the decoded pixels reserved in the memory budget meanwhile."""
        width, height = (
            images.declared_size(source.data, what)
            if isinstance(source, EncodedSource)
            else (source.width, source.height)
        )
        self.limits.check(width, height, what)
        with self.engine.budget.reserve(width * height * 4, f"decoding {what}"):
            yield decode_image(source, self.limits, what)


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
    recolour = (
        colour_transfer.colour_stats(content.rgb())
        if job.colour_match is ColourMatch.CONTENT and not content.mode.is_gray
        else None
    )
    vectors = []
    for index, style in enumerate(job.styles):
        what = f"style {index + 1}"
        try:
            vectors.append(resolver.vector(style.source, job.preprocess, what, recolour))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = resolver.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    palette = _style_palette(resolver, job, list(weights))
    size = f"{work_width}x{work_height}"
    if (work_width, work_height) != (content.width, content.height):
        size += f" (scaled from {content.width}x{content.height})"
    report(JobProgress(Stage.STYLIZING, _STYLIZE_SHARE[0], f"stylizing at {size}"))

    def on_step(step: StylizeProgress) -> None:
        low, high = _STYLIZE_SHARE
        fraction = low + (high - low) * step.fraction
        report(JobProgress(Stage.STYLIZING, fraction, f"stylizing at {size}: {step.stage} done"))

    pixels = resolver.engine.stylize(content, mixed, job.options, on_step, cancelled)
    if palette is not None:
        pixels = colour_transfer.match_pixels(pixels, palette)
    return JobResult(pixels=pixels, vector=mixed, seconds=time.perf_counter() - started)


def _style_palette(
    resolver: StyleResolver, job: StylizeJob, weights: list[float]
) -> colour_transfer.ColourStats | None:
    """With ColourMatch.STYLE: the weighted colour statistics of the style images."""
    if job.colour_match is not ColourMatch.STYLE:
        return None
    stats = []
    for index, style in enumerate(job.styles):
        try:
            stats.append(resolver.colour_stats(style.source, f"style {index + 1}"))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    return colour_transfer.mixed_stats(stats, weights)

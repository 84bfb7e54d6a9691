"""One stylize or predict-style request, from source bytes to result pixels.

Transport-neutral: the gRPC wire layer (server/wire.py) builds a :class:`StylizeJob`
from a request's setup — for the daemon and for the CLI's ``--local`` mode alike —
and :func:`run_job` dispatches it to the method's engine: the fast feed-forward
networks (engine/style_engine.py) or the optimisation (engine/optimization/).
Decoding happens here, inside the bounded job slot, so a flood of large images cannot
decode in parallel beyond the daemon's concurrency limit. :class:`ProgressReporter`
is the one owner of a job's progress: its shares of the whole and its words.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from stylize.engine import colour_transfer, images, style_mixing
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.errors import (
    CancelledError,
    InvalidInputError,
    StylizeError,
    TooLargeForMemoryError,
)
from stylize.engine.images import MIN_SIDE, Depth, ImageLimits, PixelMode, Pixels
from stylize.engine.optimization import memory as optimization_memory
from stylize.engine.optimization import schedule
from stylize.engine.optimization.method import (
    OptimizationEngine,
    OptimizeOptions,
    OptimizeProgress,
)
from stylize.engine.optimization.optimizers import LossTerms
from stylize.engine.stroke_scale import MIN_STROKE_SCALE, check_stroke_scale, working_size
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
    OPTIMIZING = "optimizing"
    ENCODING = "encoding"


class Method(enum.Enum):
    FAST = "fast"  # the feed-forward networks: one pass
    OPTIMIZE = "optimize"  # Gatys et al.: iterations over VGG19 features


@dataclass(frozen=True)
class Iteration:
    """Where an optimisation stands (Stage.OPTIMIZING)."""

    done: int  # iterations, over all scales
    total: int
    scale: int  # 1-based, coarse to fine
    scales: int
    losses: LossTerms
    seconds_left: float  # estimate; 0 = not known yet


@dataclass(frozen=True)
class JobProgress:
    stage: Stage
    fraction: float  # of the whole job
    message: str  # in a user's words
    size: tuple[int, int] | None = None  # the working size, while the picture is made
    iteration: Iteration | None = None
    preview: Pixels | None = None  # an intermediate result, at the content's size


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
    depth: Depth = Depth.U8  # little-endian samples


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
    """One picture to make. ``optimize`` set: the optimisation method, else the fast one.

    ``options`` (max side, colour preservation) apply to both methods; ``strength`` and
    ``preprocess`` to the fast method only.
    """

    content: ImageSource
    styles: tuple[WeightedStyle, ...]
    strength: float = 1.0
    preprocess: StylePreprocess = field(default_factory=StylePreprocess)
    options: StylizeOptions = field(default_factory=StylizeOptions)
    colour_match: ColourMatch = ColourMatch.NONE
    optimize: OptimizeOptions | None = None
    init_image: EncodedSource | None = None  # with optimize.init "image"

    @property
    def method(self) -> Method:
        return Method.FAST if self.optimize is None else Method.OPTIMIZE


@dataclass(frozen=True)
class JobResult:
    pixels: Pixels
    vector: np.ndarray | None  # the fast method's mixed style vector
    seconds: float
    iterations: int = 0  # the optimisation's, run
    losses: LossTerms | None = None  # the optimisation's, at the result
    finished_early: bool = False  # stopped by "finish" or its time limit


Report = Callable[[JobProgress], None]
CancelCheck = Callable[[], bool]
Pause = Callable[[], None]  # called between iterations; may wait (fairness to fast jobs)


class ProgressReporter:
    """The one owner of a job's progress: each step's share of the whole, and its words.

    One bar goes from 0 to 1 over the whole job, whichever the method; the servicer,
    the CLI and the GIMP bridge show these fractions and messages as they are.
    """

    SHARES: ClassVar[dict[Stage, tuple[float, float]]] = {
        Stage.QUEUED: (0.0, 0.0),
        Stage.RECEIVING: (0.0, 0.0),
        Stage.PREDICTING_STYLE: (0.0, 0.15),
        Stage.STYLIZING: (0.15, 0.95),
        Stage.OPTIMIZING: (0.02, 0.97),
        Stage.ENCODING: (0.97, 1.0),
    }

    def __init__(self, report: Report) -> None:
        self._report = report

    @classmethod
    def at(cls, stage: Stage, within: float, message: str, **extra: object) -> JobProgress:
        low, high = cls.SHARES[stage]
        fraction = low + (high - low) * min(max(within, 0.0), 1.0)
        return JobProgress(stage, fraction, message, **extra)  # type: ignore[arg-type]

    def __call__(self, stage: Stage, within: float, message: str, **extra: object) -> None:
        self._report(self.at(stage, within, message, **extra))


def accepted(queued: bool) -> JobProgress:
    """The first event of an admitted job."""
    if queued:
        return ProgressReporter.at(Stage.QUEUED, 0.0, "waiting for a free job slot")
    return ProgressReporter.at(Stage.RECEIVING, 0.0, "receiving the image")


def encoding() -> JobProgress:
    return ProgressReporter.at(Stage.ENCODING, 0.0, "saving the result")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def decode_image(source: ImageSource, limits: ImageLimits, what: str) -> Pixels:
    if isinstance(source, RawSource):
        return images.from_raw(
            source.data, source.width, source.height, source.mode, limits, what, source.depth
        )
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
    check_stroke_scale(job.options.stroke_scale)
    max_side = job.options.max_side
    if max_side and max_side < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side is {max_side}; use 0 (no cap) or at least {MIN_SIDE}",
            field="options.max_side",
        )
    if job.optimize is not None:
        _check_optimize_job(job, job.optimize)


def _check_optimize_job(job: StylizeJob, options: OptimizeOptions) -> None:
    for index, style in enumerate(job.styles):
        if isinstance(style.source, VectorSource):
            raise InvalidInputError(
                f"style {index + 1} is a style vector; the optimisation method matches the "
                "style image's features, so send the image (encoded, raw or named)",
                field=f"styles[{index}]",
            )
    if job.strength != 1.0:
        raise InvalidInputError(
            "strength applies to the fast method; with the optimisation method, balance "
            "optimize.content_weight against optimize.style_weight",
            field="strength",
        )
    if (options.init == "image") != (job.init_image is not None):
        raise InvalidInputError(
            "optimize.init_image is needed with init IMAGE, and only then",
            field="optimize.init_image",
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
        expected = images.raw_bytes(source.width, source.height, source.mode, source.depth)
        if len(source.data) != expected:
            raise InvalidInputError(
                f"{what}: raw {source.mode.name} {source.depth.name} buffer has "
                f"{len(source.data):,} bytes but {source.width}x{source.height} needs {expected:,}"
            )
    elif not source.data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")


def _working_size(
    content: Pixels, max_side: int, stroke_scale: float = MIN_STROKE_SCALE
) -> tuple[int, int]:
    """The size the network runs at; refused if ``max_side`` leaves a side below MIN_SIDE.

    The stroke scale is the fast method's (the optimisation works at ``max_side`` only).
    """
    width, height = working_size(content.width, content.height, stroke_scale, max_side)
    if min(width, height) < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side {max_side} would stylize the {content.width}x{content.height} "
            f"content at {width}x{height}; its short side must stay at least {MIN_SIDE} pixels",
            field="options.max_side",
        )
    return width, height


class Engines:
    """What jobs run on: the fast engine with its style-vector cache, the style library,
    and the optimisation engine (VGG19), loaded on first use so the daemon starts fast.
    """

    def __init__(
        self,
        engine: StyleEngine,
        library: StyleLibrary,
        cache: StyleVectorCache,
        limits: ImageLimits,
        optimization: Callable[[], OptimizationEngine] = OptimizationEngine,
    ) -> None:
        self.engine = engine
        self.library = library
        self.cache = cache
        self.limits = limits
        self._make_optimization = optimization
        self._optimization: OptimizationEngine | None = None
        self._optimization_lock = threading.Lock()  # one run at a time per engine

    @contextlib.contextmanager
    def optimization_slot(
        self, width: int, height: int, options: OptimizeOptions
    ) -> Iterator[OptimizationEngine]:
        """The optimisation engine, its memory reserved (or a refusal naming a size that fits)."""
        budget = self.engine.budget
        needed = optimization_memory.estimate_bytes(
            width, height, options.optimizer, options.style_scale
        )
        if needed > budget.capacity:
            fit_w, fit_h = optimization_memory.largest_fitting_size(
                width, height, options.optimizer, budget.capacity, options.style_scale
            )
            raise TooLargeForMemoryError(
                f"optimising a {width}x{height} picture with {options.optimizer} needs about "
                f"{needed / 2**30:.1f} GiB; this daemon's budget is "
                f"{budget.capacity / 2**30:.1f} GiB. The largest size that fits is about "
                f"{fit_w}x{fit_h}: set options.max_side (CLI --max-side) to "
                f"{max(fit_w, fit_h)} or less",
                field="options.max_side",
            )
        reservation = budget.reserve(needed, f"optimising a {width}x{height} picture")
        with reservation, self._optimization_lock:
            if self._optimization is None:
                self._optimization = self._make_optimization()
            yield self._optimization

    def style_pixels(
        self, source: StyleSource, what: str, recolour: ColourStats | None = None
    ) -> Pixels:
        """A style image's pixels (the optimisation method needs images, not vectors)."""
        if isinstance(source, VectorSource):
            raise InvalidInputError(
                f"{what} is a style vector; the optimisation method needs the style image"
            )
        image = self._image_source(source)
        width, height = (
            images.declared_size(image.data, what)
            if isinstance(image, EncodedSource)
            else (image.width, image.height)
        )
        self.limits.check(width, height, what)
        pixels = decode_image(image, self.limits, what)
        return colour_transfer.match_pixels(pixels, recolour) if recolour is not None else pixels

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
            key = cache_key(
                "raw",
                image.data,
                image.width,
                image.height,
                image.mode.name,
                image.depth.name,
                *options,
            )
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
        if isinstance(source, EncodedSource):
            width, height = images.declared_size(source.data, what)
            depth = images.declared_depth(source.data, what)
        else:
            width, height, depth = source.width, source.height, source.depth
        self.limits.check(width, height, what)
        with self.engine.budget.reserve(width * height * 4 * depth.bytes, f"decoding {what}"):
            yield decode_image(source, self.limits, what)


def run_job(
    engines: Engines,
    job: StylizeJob,
    report: Report,
    cancelled: CancelCheck,
    finish: CancelCheck = lambda: False,
    pause: Pause = lambda: None,
) -> JobResult:
    """Decode the content and styles and make the picture with the job's method.

    A job cancelled while it waited for its slot stops here, before decoding anything.
    ``finish`` (optimisation only) stops early with the best image so far; ``pause`` is
    called before each evaluation of the optimisation's objective.
    """
    started = time.perf_counter()
    if cancelled():
        raise CancelledError("the job was cancelled before it started")
    progress = ProgressReporter(report)
    try:
        content = decode_image(job.content, engines.limits, "content image")
    except StylizeError as error:
        raise _with_field(error, "content") from None
    if job.optimize is not None:
        controls = _Controls(cancelled, finish, pause)
        return _run_optimize(engines, job, job.optimize, content, progress, started, controls)
    return _run_fast(engines, job, content, progress, cancelled, started)


def _size_words(content: Pixels, width: int, height: int) -> str:
    size = f"{width}x{height}"
    if (width, height) != (content.width, content.height):
        size += f" (scaled from {content.width}x{content.height})"
    return size


def _run_fast(
    engines: Engines,
    job: StylizeJob,
    content: Pixels,
    progress: ProgressReporter,
    cancelled: CancelCheck,
    started: float,
) -> JobResult:
    """Predict and mix style vectors, apply strength, one pass of the transfer network."""
    strength = style_mixing.check_strength(job.strength)
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    work_width, work_height = _working_size(content, job.options.max_side, job.options.stroke_scale)
    progress(Stage.PREDICTING_STYLE, 0.0, "reading the style images")
    recolour = _content_palette(job, content)
    vectors = []
    for index, style in enumerate(job.styles):
        what = f"style {index + 1}"
        try:
            vectors.append(engines.vector(style.source, job.preprocess, what, recolour))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = engines.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    palette = _style_palette(engines, job, list(weights))
    words = f"painting at {_size_words(content, work_width, work_height)}"
    size = (work_width, work_height)
    progress(Stage.STYLIZING, 0.0, words, size=size)

    def on_step(step: StylizeProgress) -> None:
        progress(Stage.STYLIZING, step.fraction, words, size=size)

    pixels = engines.engine.stylize(content, mixed, job.options, on_step, cancelled)
    if palette is not None:
        pixels = colour_transfer.match_pixels(pixels, palette)
    return JobResult(pixels=pixels, vector=mixed, seconds=time.perf_counter() - started)


def _content_palette(job: StylizeJob, content: Pixels) -> ColourStats | None:
    """With ColourMatch.CONTENT: the content's colours, which the style images take first."""
    if job.colour_match is ColourMatch.CONTENT and not content.mode.is_gray:
        return colour_transfer.colour_stats(content.rgb())
    return None


@dataclass(frozen=True)
class _Controls:
    cancelled: CancelCheck
    finish: CancelCheck
    pause: Pause


def _run_optimize(
    engines: Engines,
    job: StylizeJob,
    options: OptimizeOptions,
    content: Pixels,
    progress: ProgressReporter,
    started: float,
    controls: _Controls,
) -> JobResult:
    """Optimise the pixels against VGG19 features of the content and style images."""
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    width, height = _working_size(content, job.options.max_side)
    options = dataclasses.replace(
        options,
        scales=_scales(content, width, height, options),
        preserve_colors=job.options.preserve_colors,
    )
    progress(Stage.PREDICTING_STYLE, 0.0, "reading the style images")
    recolour = _content_palette(job, content)
    styles = []
    for index, style in enumerate(job.styles):
        try:
            pixels = engines.style_pixels(style.source, f"style {index + 1}", recolour)
            styles.append((pixels, weights[index]))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    init = None
    if job.init_image is not None:
        try:
            init = decode_image(job.init_image, engines.limits, "init image")
        except StylizeError as error:
            raise _with_field(error, "optimize.init_image") from None
    palette = _style_palette(engines, job, list(weights))
    tracker = _IterationTracker(content, width, height, options, progress)
    with engines.optimization_slot(width, height, options) as engine:
        pixels = engine.run(
            content,
            styles,
            options,
            tracker.on_step,
            controls.cancelled,
            controls.finish,
            init,
            controls.pause,
        )
    if palette is not None:
        pixels = colour_transfer.match_pixels(pixels, palette)
    last = tracker.last
    return JobResult(
        pixels=pixels,
        vector=None,
        seconds=time.perf_counter() - started,
        iterations=last.iteration if last else 0,
        losses=last.losses if last else None,
        finished_early=last is None or last.iteration < options.iterations,
    )


def _scales(content: Pixels, width: int, height: int, options: OptimizeOptions) -> tuple[int, ...]:
    """The schedule's long sides, the finest at most the working size (``max_side``)."""
    if options.scales:
        if max(options.scales) > max(width, height):
            raise InvalidInputError(
                f"optimize.scales go up to {max(options.scales)} px but the picture is made "
                f"at {width}x{height} (options.max_side)",
                field="optimize.scales",
            )
        return options.scales
    return schedule.long_sides(width, height, (), options.iterations)


class _IterationTracker:
    """Turns the engine's per-iteration reports into job progress with an estimate of time left.

    Iterations cost in proportion to their scale's pixels, so the estimate weighs them so.
    """

    def __init__(
        self,
        content: Pixels,
        width: int,
        height: int,
        options: OptimizeOptions,
        progress: ProgressReporter,
    ) -> None:
        self.content = content
        self.progress = progress
        counts = schedule.split_iterations(options.iterations, len(options.scales))
        self.costs = [math.prod(schedule.fit(width, height, side)) for side in options.scales]
        self.total = sum(cost * count for cost, count in zip(self.costs, counts, strict=True))
        self.spent = 0  # cost of the iterations done
        self.first: tuple[float, int] | None = None  # time and cost at the first iteration
        self.last: OptimizeProgress | None = None

    def on_step(self, step: OptimizeProgress) -> None:
        now = time.perf_counter()
        self.spent += self.costs[step.scale_index]
        self.last = step
        if self.first is None:  # the first iteration includes tracing: not a fair sample
            self.first = (now, self.spent)
        seconds_left = 0.0
        if self.spent > self.first[1]:
            rate = (now - self.first[0]) / (self.spent - self.first[1])
            seconds_left = rate * max(0, self.total - self.spent)
        iteration = Iteration(
            done=step.iteration,
            total=step.total,
            scale=step.scale_index + 1,
            scales=step.scale_count,
            losses=step.losses,
            seconds_left=seconds_left,
        )
        self.progress(
            Stage.OPTIMIZING,
            self.spent / self.total,
            _optimizing_words(self.content, step, iteration),
            size=(step.width, step.height),
            iteration=iteration,
            preview=step.preview,
        )


def _optimizing_words(content: Pixels, step: OptimizeProgress, iteration: Iteration) -> str:
    words = f"refining at {_size_words(content, step.width, step.height)}"
    if iteration.scales > 1:
        words += f", scale {iteration.scale} of {iteration.scales}"
    words += f": iteration {iteration.done} of {iteration.total}, loss {iteration.losses.total:.4g}"
    if iteration.seconds_left:
        words += f", about {_duration(iteration.seconds_left)} left"
    return words


def _style_palette(
    engines: Engines, job: StylizeJob, weights: list[float]
) -> colour_transfer.ColourStats | None:
    """With ColourMatch.STYLE: the weighted colour statistics of the style images."""
    if job.colour_match is not ColourMatch.STYLE:
        return None
    stats = []
    for index, style in enumerate(job.styles):
        try:
            stats.append(engines.colour_stats(style.source, f"style {index + 1}"))
        except StylizeError as error:
            raise _with_field(error, f"styles[{index}]") from None
    return colour_transfer.mixed_stats(stats, weights)

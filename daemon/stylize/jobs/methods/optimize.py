"""The optimisation method (Gatys et al.): iterate on the pixels against VGG19 features.

Owns everything only this method needs: its settings (:class:`OptimizeSettings`), the
VGG19 engine (loaded on first use, one run at a time), its memory reservation, its
coarse-to-fine scales and the estimate of time left shown with each iteration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stylize import progress_words
from stylize.engine import colour_transfer, style_mixing
from stylize.engine.errors import InvalidInputError, TooLargeForMemoryError
from stylize.engine.images import Pixels
from stylize.engine.memory_budget import MemoryBudget
from stylize.engine.optimization import guidance, memory, schedule
from stylize.engine.optimization.guidance import StyleMasks
from stylize.engine.optimization.method import (
    MAX_STYLE_SCALE,
    OptimizationEngine,
    OptimizeOptions,
    OptimizeProgress,
)
from stylize.engine.optimization.vgg_features import default_precision
from stylize.engine.stroke_scale import check_stroke_scale
from stylize.jobs.checks import blamed_on, checked_working_size
from stylize.jobs.job import EncodedSource, JobResult, StylizeJob, VectorSource
from stylize.jobs.method import JobContext
from stylize.jobs.progress import ProgressReporter, Stage, Step
from stylize.jobs.resources import Engines
from stylize.models.provenance import ModelFile, model_file

OPTIMIZE = "optimize"


@dataclass(frozen=True)
class OptimizeSettings:
    """StylizeJob.settings of the optimisation method."""

    options: OptimizeOptions = field(default_factory=OptimizeOptions)
    init_image: EncodedSource | None = None  # with options.init "image"
    # The style scale follows the job's stroke scale unless the request set style_scale.
    style_scale_set: bool = False


def style_scale_of(job: StylizeJob) -> float:
    """The style image's scale: the request's style_scale, else from the stroke scale
    (larger strokes, a larger style), so one stroke-scale control serves both methods."""
    settings = settings_of(job)
    if settings.style_scale_set:
        return settings.options.style_scale
    check_stroke_scale(job.options.stroke_scale)
    return min(max(job.options.stroke_scale, 0.25), MAX_STYLE_SCALE)


class OptimizeMethod:
    name = OPTIMIZE
    painting_share = (0.02, 0.97)  # reading the style images is quick

    def __init__(self, make_engine: Callable[[], OptimizationEngine] = OptimizationEngine) -> None:
        self._make_engine = make_engine
        self._engine: OptimizationEngine | None = None
        self._lock = threading.Lock()  # one run at a time per engine

    def model_files(self, engines: Engines) -> list[ModelFile]:
        return [_vgg19_file()]

    def check(self, job: StylizeJob) -> None:
        settings = settings_of(job)
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
        if job.strength_map is not None:
            raise InvalidInputError(
                "a strength map applies to the fast method; with the optimisation method, "
                "give each style a region, or balance optimize.content_weight against "
                "optimize.style_weight",
                field="strength_map",
            )
        if (settings.options.init == "image") != (settings.init_image is not None):
            raise InvalidInputError(
                "optimize.init_image is needed with init IMAGE, and only then",
                field="optimize.init_image",
            )

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        engines, progress, controls = context.engines, context.progress, context.controls
        settings = settings_of(job)
        weights = style_mixing.normalised_weights([style.weight for style in job.styles])
        width, height = checked_working_size(content, job.options.max_side)
        options = dataclasses.replace(
            settings.options,
            scales=_scales(width, height, settings.options),
            preserve_colors=job.options.preserve_colors,
            style_scale=style_scale_of(job),
        )
        progress(Stage.PREPARING, 0.0, progress_words.READING_STYLES)
        recolour = engines.content_palette(job, content)
        with contextlib.ExitStack() as held:  # the decoded images live as long as the run
            styles = []
            for index, style in enumerate(job.styles):
                with blamed_on(f"styles[{index}]"):
                    what = f"style {index + 1}"
                    pixels = engines.style_pixels(style.source, what, held, recolour)
                    styles.append((pixels, float(weights[index])))
            masks = _style_masks(job, engines, held)
            if masks is not None:  # refuse bad masks before the engine is loaded
                guidance.plan(
                    [weight for _, weight in styles],
                    masks,
                    (content.width, content.height),
                    [(pixels.width, pixels.height) for pixels, _ in styles],
                )
            init = None
            if settings.init_image is not None:
                with blamed_on("optimize.init_image"):
                    init = engines.decoded(settings.init_image, "init image", held)
            palette = engines.style_palette(job, list(weights))
            tracker = _IterationTracker(content, width, height, options, progress)
            sizes = _Sizes.of(content, styles, init, masks)
            with self._slot(engines.engine.budget, width, height, options, sizes) as engine:
                pixels = engine.run(
                    content,
                    styles,
                    options,
                    tracker.on_step,
                    controls.cancelled,
                    controls.finish,
                    init,
                    controls.pause,
                    masks,
                )
        if palette is not None:
            pixels = colour_transfer.match_pixels(pixels, palette)
        last = tracker.last
        return JobResult(
            pixels=pixels,
            vector=None,
            seconds=time.perf_counter() - context.started,
            iterations=last.iteration if last else 0,
            losses=last.losses if last else None,
            finished_early=last is None or last.iteration < options.iterations,
        )

    def _precision(self) -> str:
        """VGG19's precision: the loaded engine's, else what "auto" will choose (cheap)."""
        if self._engine is not None:
            return self._engine.vgg.precision
        return default_precision()

    @contextlib.contextmanager
    def _slot(
        self,
        budget: MemoryBudget,
        width: int,
        height: int,
        options: OptimizeOptions,
        sizes: _Sizes,
    ) -> Iterator[OptimizationEngine]:
        """The VGG19 engine, its memory reserved (or a refusal naming a size that fits).

        The estimate follows what the run allocates at each scale (memory.run_bytes): the
        content, each style at its working size, VGG19's activations, the optimiser's state.
        """
        precision = self._precision()
        needed = memory.run_bytes(
            sizes.content, sizes.styles, options.optimizer, options.scales, options.style_scale,
            sizes.init, sizes.masks, sizes.guided, precision,
        )  # fmt: skip
        if needed > budget.capacity:
            fit_w, fit_h = memory.largest_fitting_size(
                width, height, options.optimizer, budget.capacity, options.style_scale,
                sizes.styles, sizes.content, sizes.masks, sizes.guided, precision,
            )  # fmt: skip
            raise TooLargeForMemoryError(
                f"optimising a {width}x{height} picture with {options.optimizer} needs about "
                f"{needed / 2**30:.1f} GiB; this daemon's budget is "
                f"{budget.capacity / 2**30:.1f} GiB. The largest size that fits is about "
                f"{fit_w}x{fit_h}: set options.max_side (CLI --max-side) to "
                f"{max(fit_w, fit_h)} or less",
                field="options.max_side",
            )
        reservation = budget.reserve(needed, f"optimising a {width}x{height} picture")
        with reservation, self._lock:
            if self._engine is None:
                self._engine = self._make_engine()
            yield self._engine


@dataclass(frozen=True)
class _Sizes:
    """Full sizes of the run's images (width, height), for its memory estimate."""

    content: tuple[int, int]
    styles: list[tuple[int, int]]
    init: tuple[int, int] | None
    masks: list[tuple[int, int]] = field(default_factory=list)  # regions and style regions
    guided: int = 0  # styles in the guided style loss (0: no region)

    @classmethod
    def of(
        cls,
        content: Pixels,
        styles: list[tuple[Pixels, float]],
        init: Pixels | None,
        masks: list[StyleMasks | None] | None = None,
    ) -> _Sizes:
        given = [
            (mask.shape[1], mask.shape[0])
            for style_masks in masks or ()
            if style_masks is not None
            for mask in (style_masks.region, style_masks.style_region)
            if mask is not None
        ]
        regions = any(m is not None and m.region is not None for m in masks or ())
        return cls(
            (content.width, content.height),
            [(pixels.width, pixels.height) for pixels, _ in styles],
            (init.width, init.height) if init is not None else None,
            given,
            sum(1 for _, weight in styles if weight > 0) if regions else 0,
        )


def _style_masks(
    job: StylizeJob, engines: Engines, held: contextlib.ExitStack
) -> list[StyleMasks | None] | None:
    """Each style's region and style region as float masks (Engines.mask: the one reading
    of a mask for both methods, reserved until ``held`` closes); None when no style has
    one. The engine checks them (guidance.py)."""
    if all(style.region is None and style.style_region is None for style in job.styles):
        return None
    masks: list[StyleMasks | None] = []
    for index, style in enumerate(job.styles):
        region = style_region = None
        if style.region is not None:
            with blamed_on(f"styles[{index}].region"):
                region = engines.mask(style.region, f"style {index + 1}'s region", held)
        if style.style_region is not None:
            what = f"style {index + 1}'s style region"
            with blamed_on(f"styles[{index}].style_region"):
                style_region = engines.mask(style.style_region, what, held)
        masks.append(StyleMasks(region, style_region))
    return masks


def settings_of(job: StylizeJob) -> OptimizeSettings:
    settings = job.settings if job.settings is not None else OptimizeSettings()
    if not isinstance(settings, OptimizeSettings):
        raise TypeError(f"the optimisation method's settings are {type(settings).__name__}")
    return settings


@functools.cache
def _vgg19_file() -> ModelFile:
    return model_file("vgg19")


def _scales(width: int, height: int, options: OptimizeOptions) -> tuple[int, ...]:
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
        self.original = (content.width, content.height)
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
        done = Step(
            done=step.iteration,
            total=step.total,
            scale=step.scale_index + 1,
            scales=step.scale_count,
            losses=step.losses,
            seconds_left=seconds_left,
        )
        words = progress_words.refining(
            progress_words.size(step.width, step.height, self.original),
            done.scale,
            done.scales,
            done.done,
            done.total,
            done.losses.total,
            done.seconds_left,
        )
        self.progress(
            Stage.PAINTING,
            self.spent / self.total,
            words,
            size=(step.width, step.height),
            step=done,
            preview=step.preview,
        )

"""The optimisation method (Gatys, Ecker & Bethge 2015): iterate on the pixels until
their VGG19 features match the content and their Gram matrices match the styles.

Defaults follow neural-style (Johnson 2015, the reference implementation of the paper):
content ``block4_conv2`` (relu4_2), style ``block1_conv1`` ... ``block5_conv1`` (relu1_1
... relu5_1) each weighted 1, content weight 5, style weight 100, L-BFGS. Departures:

- init ``content`` (neural-style: random): it converges in far fewer iterations and
  keeps the layout; ``noise`` gives the paper's behaviour.
- the total-variation term is a mean, so its weight does not depend on the size (see
  losses.py); 390 equals neural-style's 1e-3 at its 512 px default.
- ``iterations`` (default 500, neural-style 1000) is the total over all scales of the
  coarse-to-fine schedule (schedule.py), which neural-style leaves to a script; each
  finer scale gets half the iterations of the one before, and scales above 2 MP are
  refined by Adam (L-BFGS's history would not fit: optimizers.LBFGS_MAX_PIXELS).
- max pooling, as in VGG19 and neural-style (the paper suggests average pooling).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stylize.engine import pixel_ops
from stylize.engine.errors import CancelledError, InvalidInputError
from stylize.engine.idle_memory import trim_heap
from stylize.engine.images import Pixels
from stylize.engine.optimization import guidance, schedule
from stylize.engine.optimization.guidance import StyleMasks
from stylize.engine.optimization.optimizers import (
    OPTIMIZERS,
    Evaluate,
    LossTerms,
    Step,
    learning_rate_at,
    make_optimizer,
    optimizer_at,
)
from stylize.engine.optimization.vgg_features import check_layers
from stylize.models.provenance import ModelFile

if TYPE_CHECKING:  # TensorFlow and Keras are imported by the first optimisation
    import tensorflow as tf

    from stylize.engine.optimization.objective import GuidedTargets, Objective, Targets
MAX_ITERATIONS = 100_000
MAX_STYLE_SCALE = 4.0
# Loss weights above this overflow float32: the losses are sums of squared VGG19
# activations (style terms up to ~1e10 on bright high-contrast images) times the weight,
# and L-BFGS squares the gradient; 3.4e38 gave inf losses, so L-BFGS stopped at 0
# iterations with loss 0 and Adam reported NaN. 1e12 leaves ~1e16 of headroom below
# float32's 3.4e38; useful weights are 1e-3..1e6.
MAX_WEIGHT = 1e12
INITS = ("content", "noise", "image")
STYLE_LAYERS = tuple(f"block{block}_conv1" for block in range(1, 6))


@dataclass(frozen=True)
class OptimizeOptions:
    """What to optimise and how; invalid values raise InvalidInputError on creation."""

    iterations: int = 500  # in total, over all scales
    optimizer: str = "lbfgs"  # "lbfgs" | "adam"; scales above 2 MP: Adam (optimizers.py)
    content_weight: float = 5.0
    style_weight: float = 100.0
    tv_weight: float = 390.0
    content_layers: tuple[str, ...] = ("block4_conv2",)
    style_layers: tuple[tuple[str, float], ...] = tuple((name, 1.0) for name in STYLE_LAYERS)
    init: str = "content"  # "content" | "noise" | "image" (run's init_image)
    seed: int = 0  # the noise of init "noise"; everything else is deterministic anyway
    style_scale: float = 1.0  # style image's long side relative to the content's, per scale
    scales: tuple[int, ...] = ()  # long sides, coarse to fine; () = automatic
    preserve_colors: bool = False  # the content's colours, the style's luminance
    preview_every: int = 0  # a preview image every N iterations; 0 = none
    max_seconds: float = 0.0  # stop with the best image so far after this long; 0 = no limit
    learning_rate: float = 10.0  # Adam's step in 0..255 pixel units

    def __post_init__(self) -> None:
        _check_options(self)


def _check_options(options: OptimizeOptions) -> None:
    """Refusals name the option at fault in ``field`` (as the wire's OptimizeOptions does)."""
    if not 1 <= options.iterations <= MAX_ITERATIONS:
        raise InvalidInputError(
            f"iterations must be 1..{MAX_ITERATIONS:,}, got {options.iterations}",
            field="iterations",
        )
    if options.optimizer not in OPTIMIZERS:
        raise InvalidInputError(
            f"unknown optimizer {options.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}",
            field="optimizer",
        )
    if options.init not in INITS:
        raise InvalidInputError(
            f"unknown init {options.init!r}; choose one of {', '.join(INITS)}", field="init"
        )
    for name in ("content_weight", "style_weight", "tv_weight"):
        _check_weight(name, getattr(options, name), name, MAX_WEIGHT)
    _check_weight("max_seconds", options.max_seconds, "max_seconds")
    if options.content_weight == 0 and options.style_weight == 0:
        raise InvalidInputError(
            "content_weight and style_weight are both 0: there is nothing to optimise; "
            "set style_weight (or content_weight) above 0",
            field="style_weight",
        )
    check_layers(options.content_layers, "the content loss")
    check_layers([name for name, _ in options.style_layers], "the style loss")
    for name, weight in options.style_layers:
        _check_weight(f"style layer {name} weight", weight, "style_layers", MAX_WEIGHT)
    if not (math.isfinite(options.learning_rate) and options.learning_rate > 0):
        raise InvalidInputError(
            f"learning_rate must be > 0, got {options.learning_rate}", field="learning_rate"
        )
    if not (math.isfinite(options.style_scale) and 0 < options.style_scale <= MAX_STYLE_SCALE):
        raise InvalidInputError(
            f"style_scale must be in (0, {MAX_STYLE_SCALE}], got {options.style_scale}",
            field="style_scale",
        )
    schedule.check_scales(options.scales, options.iterations)
    if options.preview_every < 0:
        raise InvalidInputError(
            f"preview_every must be >= 0, got {options.preview_every}", field="preview_every"
        )


def _check_weight(
    what: str, value: float, field: str | None = None, most: float = math.inf
) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"{what} must be a finite number >= 0, got {value}", field=field)
    if value > most:
        raise InvalidInputError(
            f"{what} must be at most {most:g} (larger weights overflow the losses), got {value:g}",
            field=field,
        )


@dataclass(frozen=True)
class OptimizeProgress:
    """After each iteration; ``preview`` (content size and mode) every preview_every."""

    iteration: int  # 1..total, over all scales
    total: int
    scale_index: int  # 0-based, coarse to fine
    scale_count: int
    width: int  # the working size of this scale
    height: int
    losses: LossTerms
    preview: Pixels | None = None


ProgressCallback = Callable[[OptimizeProgress], None]
Check = Callable[[], bool]


class OptimizationEngine:
    """Loads the verified VGG19 once; one run at a time per instance (traces are cached)."""

    def __init__(self, weights: ModelFile | None = None, precision: str = "auto") -> None:
        from stylize.engine.optimization.vgg_features import Vgg19  # TensorFlow: seconds

        self.vgg = Vgg19(weights, precision)  # "auto": see vgg_features.default_precision
        self._objectives: dict[tuple[tuple[str, ...], tuple[str, ...]], Objective] = {}

    def run(
        self,
        content: Pixels,
        styles: Sequence[tuple[Pixels, float]],
        options: OptimizeOptions = OptimizeOptions(),
        progress: ProgressCallback | None = None,
        cancelled: Check | None = None,
        finish: Check | None = None,
        init_image: Pixels | None = None,
        pause: Callable[[], None] | None = None,
        masks: Sequence[StyleMasks | None] | None = None,
    ) -> Pixels:
        """The stylized content (its size and mode; alpha passes through).

        ``pause`` runs before every evaluation of the objective (an L-BFGS iteration
        makes several): a caller that shares the machine may wait there.

        ``cancelled`` true: CancelledError within one iteration. ``finish`` true, or
        ``options.max_seconds`` passed: stop and return the best image so far.

        ``masks``: one per style (None: no masks), its region over the content and its
        style region over the style image (guidance.py: guided Gram matrices); errors
        name ``styles[i].region`` / ``styles[i].style_region``.
        """
        blend = _check_styles(styles)
        guide = guidance.plan(
            [weight for _, weight in styles],
            masks,
            (content.width, content.height),
            [(style.width, style.height) for style, _ in styles],
        )
        if (options.init == "image") != (init_image is not None):
            raise InvalidInputError('an init image is needed with init "image", and only then')
        sides = schedule.long_sides(
            content.width, content.height, options.scales, options.iterations
        )
        counts = schedule.split_iterations(options.iterations, len(sides))
        # VGG's preprocessing takes 8-bit RGB: 16-bit and float content is optimised at 8
        # bits, and the result is returned in the content's depth (alpha at full precision).
        eight = content.to_8bit()
        run = _Run(content, options, progress, cancelled, finish, len(sides))
        from stylize.engine.optimization.objective import Weights

        objective = self.objective(options)
        weights = Weights(
            options.content_weight, options.style_weight, options.tv_weight, options.style_layers
        )
        image = _initial(eight, options, init_image, sides[0])
        layers = (*options.content_layers, *(name for name, _ in options.style_layers))
        min_side = schedule.layer_min_side(layers)
        for index, (side, count) in enumerate(zip(sides, counts, strict=True)):
            width, height = schedule.fit(content.width, content.height, side)
            schedule.check_size(width, height, layers)
            start = pixel_ops.resize(image, width, height).astype(np.float32)
            targets = _targets(
                objective,
                guide,
                pixel_ops.resize(eight.rgb(), width, height),
                [
                    _opaque(style, width, height, options.style_scale, min_side)
                    for style, _ in blend
                ],
            )
            if index:  # freed blocks back to the OS before the optimiser maps its own:
                # the last scale's (L-BFGS's float64 history at 1024 px, 24 MiB vectors
                # below the daemon's 32 MiB mmap threshold) and the target passes' would
                # stay in the heap under the 2048 px peak (BENCHMARKS.md, print size, run 3)
                trim_heap()
            run.begin_scale(index, width, height, start)
            evaluate = objective.evaluate(targets, weights)
            name = optimizer_at(options.optimizer, width * height)
            rate = learning_rate_at(options.optimizer, width * height, options.learning_rate)
            make_optimizer(name, rate).run(
                _pausing(evaluate, pause) if pause else evaluate, start, count, run.on_step
            )
            run.offset += count
            image = run.best_uint8()
            if run.stopped:
                break
        return run.finished(image)

    def objective(self, options: OptimizeOptions) -> Objective:
        """The compiled objective for the options' layers (cached: traces are reused)."""
        key = (options.content_layers, tuple(name for name, _ in options.style_layers))
        if key not in self._objectives:
            from stylize.engine.optimization.objective import Objective

            self._objectives[key] = Objective(self.vgg, *key)
        return self._objectives[key]


def _targets(
    objective: Objective, guide: guidance.Guidance, content: np.ndarray, styles: list[np.ndarray]
) -> Targets | GuidedTargets:
    """One scale's targets: ``content`` and ``styles`` RGB at their working sizes."""
    height, width = content.shape[:2]
    style_masks = [
        guide.style_mask(index, rgb.shape[1], rgb.shape[0]) for index, rgb in enumerate(styles)
    ]
    if guide.regions is None:  # the same mix everywhere: the objective without regions
        weighted = list(zip(styles, guide.weights, strict=True))
        return objective.targets(content, weighted, style_masks)
    return objective.guided_targets(
        content, styles, style_masks, guide.style_weights(width, height)
    )


def _pausing(evaluate: Evaluate, pause: Callable[[], None]) -> Evaluate:
    def evaluate_after_pause(image: tf.Tensor) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        pause()
        return evaluate(image)

    return evaluate_after_pause


def _check_styles(styles: Sequence[tuple[Pixels, float]]) -> list[tuple[Pixels, float]]:
    """The styles with a weight above 0 (a weight of 0 costs nothing and changes nothing)."""
    if not styles:
        raise InvalidInputError("at least one style image is needed")
    for index, (_, weight) in enumerate(styles):
        _check_weight(f"style image {index + 1} weight", weight)
    kept = [(style, weight) for style, weight in styles if weight > 0]
    if not kept:
        raise InvalidInputError("at least one style image needs a weight above 0")
    return kept


def _opaque(
    pixels: Pixels, width: int, height: int, style_scale: float, min_side: int
) -> np.ndarray:
    """RGB uint8 at the style's working size beside content at ``width`` x ``height``
    (schedule.style_size); transparent areas read as white paper (as the fast method)."""
    rgb = np.asarray(pixel_ops.on_white(pixels))
    return pixel_ops.resize(
        rgb,
        *schedule.style_size(pixels.width, pixels.height, width, height, style_scale, min_side),
    )


def _initial(
    content: Pixels, options: OptimizeOptions, init_image: Pixels | None, side: int
) -> np.ndarray:
    """The first scale's starting image, uint8 RGB (resized to the scale by the caller)."""
    if options.init == "noise":  # white noise (Gatys et al.), reproducible by seed
        width, height = schedule.fit(content.width, content.height, side)
        rng = np.random.default_rng(options.seed)
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if options.init == "image" and init_image is not None:
        return init_image.to_8bit().rgb()
    return content.rgb()


class _Run:
    """Per-iteration bookkeeping: progress, previews, best image so far, stop and cancel."""

    def __init__(
        self,
        content: Pixels,
        options: OptimizeOptions,
        progress: ProgressCallback | None,
        cancelled: Check | None,
        finish: Check | None,
        scale_count: int,
    ) -> None:
        self.content, self.options = content, options
        self.progress, self.cancelled, self.finish = progress, cancelled, finish
        self.scale_count = scale_count
        self.deadline = time.monotonic() + options.max_seconds if options.max_seconds else None
        self.offset = 0  # iterations planned for the scales already done
        self.stopped = False
        self.index, self.width, self.height = 0, 0, 0
        self.best: tuple[float, np.ndarray] = (math.inf, np.zeros((1, 1, 3), np.float32))

    def begin_scale(self, index: int, width: int, height: int, start: np.ndarray) -> None:
        if self.cancelled is not None and self.cancelled():
            raise CancelledError("the job was cancelled")
        self.index, self.width, self.height = index, width, height
        self.best = (math.inf, start)  # losses of another size are not comparable

    def on_step(self, step: Step) -> bool:
        if self.cancelled is not None and self.cancelled():
            raise CancelledError("the job was cancelled")
        if step.losses.total < self.best[0]:
            self.best = (step.losses.total, step.image)
        iteration = self.offset + step.iteration
        if self.progress is not None:
            every = self.options.preview_every
            preview = (
                self.finished(_to_uint8(step.image)) if every and iteration % every == 0 else None
            )
            self.progress(
                OptimizeProgress(
                    iteration=iteration,
                    total=self.options.iterations,
                    scale_index=self.index,
                    scale_count=self.scale_count,
                    width=self.width,
                    height=self.height,
                    losses=step.losses,
                    preview=preview,
                )
            )
        finish_now = self.finish is not None and self.finish()
        self.stopped = finish_now or (
            self.deadline is not None and time.monotonic() > self.deadline
        )
        return not self.stopped

    def best_uint8(self) -> np.ndarray:
        return _to_uint8(self.best[1])

    def finished(self, rgb: np.ndarray) -> Pixels:
        """uint8 RGB at any size -> the content's size and mode, colours preserved if asked."""
        content = self.content
        if rgb.shape[:2] != (content.height, content.width):
            rgb = pixel_ops.resize(rgb, content.width, content.height)
        if self.options.preserve_colors and not content.mode.is_gray:
            rgb = pixel_ops.keep_colours(rgb, content.rgb())
        return pixel_ops.in_mode_of(content, rgb)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)

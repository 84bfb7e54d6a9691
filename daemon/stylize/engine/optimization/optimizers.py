"""The two optimisers behind one interface: L-BFGS (SciPy's L-BFGS-B) and Adam (Keras).

Both minimise a value-and-gradient function over an RGB image in 0..255 and report
every iteration as a :class:`Step` to ``on_step``, which returns False to stop early
("finish now", time limit) or raises to abandon the run (cancel). The interface is a
callback rather than a generator because SciPy's ``minimize`` drives its own loop.

- L-BFGS: the method of Gatys et al. and neural-style's default. SciPy's L-BFGS-B is a
  well-kept implementation (Byrd, Lu, Nocedal & Zhu) whose box constraints keep the
  pixels in 0..255 exactly, instead of clipping after each step.
- Adam: cheaper per iteration and more predictable in time; pixels are clipped to the
  range after each update.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # imported when an optimiser runs (TensorFlow: seconds of a start)
    import tensorflow as tf
    from scipy.optimize import OptimizeResult

PIXEL_MIN, PIXEL_MAX = 0.0, 255.0


@dataclass(frozen=True)
class LossTerms:
    """The weighted terms of the objective at one image; ``total`` is their sum."""

    content: float
    style: float
    tv: float
    total: float


@dataclass(frozen=True)
class Step:
    """One iteration: ``image`` (float32 [H, W, 3] in 0..255) is the one ``losses`` measure."""

    iteration: int  # 1-based, within this run
    losses: LossTerms
    image: np.ndarray


# image [1, H, W, 3] -> ({"content", "style", "tv", "total": scalar}, gradient [1, H, W, 3])
Evaluate = Callable[["tf.Tensor"], tuple[dict[str, "tf.Tensor"], "tf.Tensor"]]
OnStep = Callable[[Step], bool]  # False: stop now and keep what there is


class Optimizer(Protocol):
    def run(self, evaluate: Evaluate, start: np.ndarray, iterations: int, on_step: OnStep) -> None:
        """Run up to ``iterations`` iterations from ``start`` (float32 [H, W, 3])."""


def _terms(values: dict[str, tf.Tensor]) -> LossTerms:
    return LossTerms(**{name: float(value) for name, value in values.items()})


@dataclass(frozen=True)
class Lbfgs:
    """SciPy L-BFGS-B with the pixel range as bounds.

    ``memory`` is the number of correction pairs (SciPy's ``maxcor``, default 10);
    neural-style uses 100, which costs 2 x 100 float64 copies of the image for a small
    gain. Convergence tests are off (as in neural-style): it runs the iterations asked.
    """

    memory: int = 10

    def run(self, evaluate: Evaluate, start: np.ndarray, iterations: int, on_step: OnStep) -> None:
        import tensorflow as tf
        from scipy.optimize import Bounds, minimize

        shape = (1, *start.shape)
        last_x: np.ndarray | None = None
        last_terms = LossTerms(math.inf, math.inf, math.inf, math.inf)
        done = 0

        def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal last_x, last_terms
            values, gradient = evaluate(tf.constant(x.reshape(shape), tf.float32))
            last_x, last_terms = x.copy(), _terms(values)
            return last_terms.total, gradient.numpy().astype(np.float64).ravel()

        def callback(intermediate_result: OptimizeResult) -> None:
            nonlocal done
            x = intermediate_result.x
            if last_x is None or not np.array_equal(last_x, x):  # accepted an earlier point
                value_and_gradient(x)
            done += 1
            image = x.reshape(start.shape).astype(np.float32)
            if not on_step(Step(iteration=done, losses=last_terms, image=image)):
                raise StopIteration

        minimize(
            value_and_gradient,
            start.astype(np.float64).ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=Bounds(PIXEL_MIN, PIXEL_MAX),
            callback=callback,
            options={
                "maxiter": iterations,
                "maxfun": 3 * iterations + 10,  # line searches rarely need more than 2
                "maxcor": self.memory,
                "ftol": 0.0,
                "gtol": 0.0,
            },
        )


@dataclass(frozen=True)
class Adam:
    """Keras Adam on the pixels; neural-style's ``-optimizer adam`` uses learning rate 10
    (0..255 pixels) and Torch's defaults for the betas and epsilon, as here."""

    learning_rate: float = 10.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def run(self, evaluate: Evaluate, start: np.ndarray, iterations: int, on_step: OnStep) -> None:
        import keras
        import tensorflow as tf

        image = tf.Variable(start[None].astype(np.float32))
        adam = keras.optimizers.Adam(
            learning_rate=self.learning_rate,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
        )
        adam.build([image])
        for iteration in range(1, iterations + 1):
            values, gradient = evaluate(tf.convert_to_tensor(image))
            step = Step(iteration=iteration, losses=_terms(values), image=image.numpy()[0])
            if not on_step(step):
                return
            adam.apply_gradients([(gradient, image)])
            image.assign(tf.clip_by_value(image, PIXEL_MIN, PIXEL_MAX))


OPTIMIZERS = ("lbfgs", "adam")
# L-BFGS's state is ~1.1 KB a pixel (2 x 10 float64 copies of the image and SciPy's
# workspace), 4.6 GB at 2048 x 2048 beside VGG19's 1.3 KB; Adam's is 24 bytes. Scales
# above this many pixels are refined by Adam whichever optimiser was asked for.
LBFGS_MAX_PIXELS = 1 << 21
# Adam's step where it takes over from L-BFGS: its first step moves every pixel by about
# the step, and at 2048 x 2048 a step of 10 (the default) raised the loss of the
# upsampled 1024 px result fourfold and had not recovered it after 10 iterations.
REFINE_LEARNING_RATE = 1.0


def optimizer_at(name: str, pixels: int) -> str:
    """The optimiser that runs a scale of ``pixels`` when ``name`` was asked for."""
    return "adam" if pixels > LBFGS_MAX_PIXELS else name


def learning_rate_at(name: str, pixels: int, learning_rate: float) -> float:
    """Adam's step at that scale: the one asked for, or REFINE_LEARNING_RATE where Adam
    takes over from L-BFGS."""
    return learning_rate if optimizer_at(name, pixels) == name else REFINE_LEARNING_RATE


def make_optimizer(name: str, learning_rate: float) -> Optimizer:
    """The optimiser called ``name`` (one of OPTIMIZERS); ``learning_rate`` is Adam's."""
    if name == "lbfgs":
        return Lbfgs()
    return Adam(learning_rate=learning_rate)

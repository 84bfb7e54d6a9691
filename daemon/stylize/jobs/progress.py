"""One progress shape for every method: neutral stages, each step's share of one bar.

The engine's own callbacks (the fast engine's network passes, the optimisation's
iterations) are turned into :class:`Progress` by the method that runs them; the gRPC edge
converts it to the wire once (server/wire.py); the words come from stylize.progress_words.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from stylize import progress_words
from stylize.engine.images import Pixels
from stylize.engine.optimization.optimizers import LossTerms


class Stage(enum.Enum):
    QUEUED = "queued"  # admitted, waiting for a job slot
    RECEIVING = "receiving"  # the content's upload
    PREPARING = "preparing"  # reading the style images (the fast method predicts vectors)
    PAINTING = "painting"  # the method makes the picture
    FINISHING = "finishing"  # encoding the result


@dataclass(frozen=True)
class Step:
    """Painting step ``done`` of ``total``, for methods that iterate (the optimisation)."""

    done: int  # over all scales
    total: int
    scale: int  # 1-based, coarse to fine
    scales: int
    losses: LossTerms
    seconds_left: float  # estimate; 0 = not known yet


@dataclass(frozen=True)
class Frames:
    """A sequence's frames (jobs/sequence.py): ``done`` of ``total`` (0 = not known)."""

    done: int
    total: int
    fps: float  # frames per second so far
    seconds_left: float  # estimate; 0 = not known


@dataclass(frozen=True)
class Progress:
    stage: Stage
    fraction: float  # of the whole job
    message: str  # in a user's words
    size: tuple[int, int] | None = None  # the working size, while the picture is made
    step: Step | None = None
    preview: Pixels | None = None  # an intermediate result, at the content's size
    frames: Frames | None = None  # a sequence's count, while its frames are made


Report = Callable[[Progress], None]
CancelCheck = Callable[[], bool]
Pause = Callable[[], None]  # called between iterations; may wait (fairness to fast jobs)

# Painting's share of the bar unless a method says otherwise (preparing comes before it).
PAINTING_SHARE = (0.15, 0.95)
FINISHING_SHARE = (0.97, 1.0)


def at(
    stage: Stage,
    within: float,
    message: str,
    painting: tuple[float, float] = PAINTING_SHARE,
    **extra: object,
) -> Progress:
    """Progress ``within`` (0..1) a stage, as a fraction of the whole job."""
    low, high = {
        Stage.QUEUED: (0.0, 0.0),
        Stage.RECEIVING: (0.0, 0.0),
        Stage.PREPARING: (0.0, painting[0]),
        Stage.PAINTING: painting,
        Stage.FINISHING: FINISHING_SHARE,
    }[stage]
    fraction = low + (high - low) * min(max(within, 0.0), 1.0)
    return Progress(stage, fraction, message, **extra)  # type: ignore[arg-type]


class ProgressReporter:
    """A job's progress as its method reports it, with the method's share of the bar."""

    def __init__(self, report: Report, painting: tuple[float, float] = PAINTING_SHARE) -> None:
        self._report = report
        self._painting = painting

    def __call__(self, stage: Stage, within: float, message: str, **extra: object) -> None:
        self._report(at(stage, within, message, self._painting, **extra))


def accepted(queued: bool) -> Progress:
    """The first event of an admitted job."""
    if queued:
        return at(Stage.QUEUED, 0.0, progress_words.QUEUED)
    return at(Stage.RECEIVING, 0.0, progress_words.RECEIVING)


def finishing() -> Progress:
    return at(Stage.FINISHING, 0.0, progress_words.ENCODING)

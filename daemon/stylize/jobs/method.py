"""The one shape every method has: what the job core calls, and what it hands a method.

A method is one module in jobs/methods/ with a class that satisfies :class:`Method`,
and one line in that package's registry. ARCHITECTURE.md shows a ten-line example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stylize.engine.images import Pixels
from stylize.jobs.job import JobResult, StylizeJob
from stylize.jobs.progress import CancelCheck, Pause, ProgressReporter
from stylize.jobs.resources import Engines
from stylize.models.provenance import ModelFile


def _never() -> bool:
    return False


def _no_pause() -> None:
    return None


@dataclass(frozen=True)
class Controls:
    """How a running job is stopped: cancel (an error), finish (the best result so far)."""

    cancelled: CancelCheck
    finish: CancelCheck = field(default=_never)
    pause: Pause = field(default=_no_pause)  # called between iterations; may wait


@dataclass(frozen=True)
class JobContext:
    engines: Engines
    progress: ProgressReporter
    controls: Controls
    started: float  # time.perf_counter() when the job started, for JobResult.seconds


class Method(Protocol):
    """One way of making the picture. ``run`` may assume ``check`` passed."""

    @property
    def name(self) -> str:
        """The registry key: StylizeJob.method, GetInfo's methods, the logs' method=."""
        ...

    @property
    def painting_share(self) -> tuple[float, float]:
        """Where painting starts and ends on the job's progress bar (0..1)."""
        ...

    def model_files(self, engines: Engines) -> list[ModelFile]:
        """The verified weights it runs on (GetInfo lists them)."""
        ...

    def check(self, job: StylizeJob) -> None:
        """Refuse, from the setup alone, what this method cannot do (InvalidInputError)."""
        ...

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        """Make the picture, reporting through ``context.progress``; reserve its memory."""
        ...

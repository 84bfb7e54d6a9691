"""A sequence: frames of a video or an animation, stylized in order, consistent in time
(engine/temporal.py).

A sequence is a series of jobs that share one :class:`StylizeJob` (styles, strength,
regions, options; its content is each frame in turn) and one
:class:`~stylize.engine.temporal.SequenceState`.

* The fast method: the styles become one mixed vector (or, with regions, one
  StyleRegions whose masks and strength map apply to every frame) once, at the first
  frame (jobs/methods/fast.py ``style_of``), so style prediction is not repeated per
  frame; with ``strength`` < 1, regions, or ColourMatch.CONTENT the first frame stands
  for the content (its own vector, its palette).
* The optimisation method (Ruder et al. 2016): each frame is its own optimisation,
  started from the previous result warped to it by the optical flow, with the content
  where the flow is unreliable (``SequenceState.warped_previous``, given as the method's
  init image); the first frame and a frame after a scene cut start as the job says.

Every frame must have the first frame's size and mode. Transport-neutral: the gRPC edge
(server/sequence_service.py) and the CLI's ``--local`` path both drive it one frame at a
time, so memory does not grow with length. A run holds its masks until :meth:`close`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from stylize import progress_words
from stylize.engine import colour_transfer, images
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.errors import CancelledError, InvalidInputError
from stylize.engine.images import Pixels
from stylize.engine.regions import StyleRegions
from stylize.engine.temporal import FrameReport, Motion, SequenceState, TemporalSettings
from stylize.jobs.checks import checked_working_size
from stylize.jobs.job import FAST, EncodedSource, RawSource, StylizeJob
from stylize.jobs.method import Controls, JobContext
from stylize.jobs.methods import method_of
from stylize.jobs.methods.fast import has_regions, style_of
from stylize.jobs.methods.optimize import OPTIMIZE, settings_of
from stylize.jobs.progress import (
    CancelCheck,
    Frames,
    Progress,
    ProgressReporter,
    Report,
    Stage,
    at,
)
from stylize.jobs.resources import Engines


def check_sequence(job: StylizeJob, temporal: TemporalSettings) -> None:
    """What a sequence refuses beyond a single job's checks (run.check_job)."""
    check_sequence_job(job)
    temporal.check()


def check_sequence_job(job: StylizeJob) -> None:
    """What a sequence's job may not ask for (fields relative to the job's setup)."""
    if job.method not in (FAST, OPTIMIZE):
        raise InvalidInputError(
            f"sequences use the fast or the optimisation method; {job.method!r} is not "
            "available for them",
            field="method",
        )
    if job.method == OPTIMIZE and settings_of(job).init_image is not None:
        raise InvalidInputError(
            "optimize.init_image must be unset in a sequence: each frame starts from the "
            "previous result warped to it (the first frame: optimize.init CONTENT or NOISE)",
            field="optimize.init_image",
        )


def _ignore(progress: Progress) -> None:
    """A frame's own progress (an optimisation's iterations): the sequence reports frames."""


def _never() -> bool:
    return False


class SequenceRun:
    """Stylize a sequence's frames one after another: ``frame(pixels)`` -> the result."""

    def __init__(
        self,
        engines: Engines,
        job: StylizeJob,
        temporal: TemporalSettings | None = None,
        report: Report | None = None,
        cancelled: CancelCheck = _never,
        total: int = 0,
    ) -> None:
        temporal = temporal or TemporalSettings()
        check_sequence(job, temporal)
        self._engines = engines
        self._job = job
        self._report = report
        self._cancelled = cancelled
        self.total = total
        self.state = SequenceState(temporal)
        self._optimizing = job.method == OPTIMIZE
        self._held = contextlib.ExitStack()  # the regions' masks, for the whole sequence
        self._target: np.ndarray | StyleRegions | None = None
        self._palette: ColourStats | None = None
        self._first: Pixels | None = None
        self._started = 0.0
        self.last: FrameReport | None = None
        self.vector_seconds = 0.0  # predicting and mixing the styles, once

    @property
    def done(self) -> int:
        return self.state.frames

    def close(self) -> None:
        """Give back what the sequence holds (its masks' memory)."""
        self._held.close()

    def __enter__(self) -> SequenceRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def vector(self) -> np.ndarray | None:
        """The mixed style vector every frame is painted with (after the first frame of a
        fast sequence without regions)."""
        return self._target if isinstance(self._target, np.ndarray) else None

    def check_frame(self, pixels: Pixels, index: int) -> None:
        """Refuse a frame that does not match the first one (size, mode)."""
        first = self._first
        if first is None:
            checked_working_size(pixels, self._job.options.max_side, self._job.options.stroke_scale)
            return
        if (pixels.width, pixels.height, pixels.mode) != (first.width, first.height, first.mode):
            raise InvalidInputError(
                f"frame {index} is {pixels.width}x{pixels.height} {pixels.mode.name}; every "
                f"frame of a sequence must be {first.width}x{first.height} {first.mode.name} "
                "like the first",
                field=f"frames[{index}]",
            )

    def frame(self, pixels: Pixels) -> Pixels:
        """The consistent stylized version of the next frame."""
        index = self.done
        self.check_frame(pixels, index)
        if self._cancelled():
            raise CancelledError(f"the sequence was cancelled before frame {index}")
        if self._first is None:
            self._prepare(pixels)
        motion = self.state.look(pixels, flow=self._optimizing)
        stylized = self._optimize(pixels, motion) if self._optimizing else self._paint(pixels)
        result, self.last = self.state.step(pixels, stylized, motion)
        self._progress()
        return result

    def _paint(self, pixels: Pixels) -> Pixels:
        """The fast method: one network pass with the sequence's style (or regions)."""
        assert self._target is not None
        stylized = self._engines.engine.stylize(
            pixels, self._target, self._job.options, None, self._cancelled
        )
        if self._palette is not None:
            stylized = colour_transfer.match_pixels(stylized, self._palette)
        return stylized

    def _optimize(self, pixels: Pixels, motion: Motion) -> Pixels:
        """The optimisation method, started from the warped previous result if any."""
        job = dataclasses.replace(self._job, content=_raw(pixels))
        start = self.state.warped_previous(pixels, motion)
        if start is not None:
            settings = settings_of(job)
            options = dataclasses.replace(settings.options, init="image")
            init = EncodedSource(images.encode_png(start))
            settings = dataclasses.replace(settings, options=options, init_image=init)
            job = dataclasses.replace(job, settings=settings)
        method = method_of(job, self._engines.methods)
        progress = ProgressReporter(_ignore, method.painting_share)
        context = JobContext(
            self._engines, progress, Controls(self._cancelled), time.perf_counter()
        )
        return method.run(job, pixels, context).pixels

    def _prepare(self, first: Pixels) -> None:
        self._first = first
        self._started = time.perf_counter()
        if self._optimizing:  # each frame is its own job: styles are read per frame
            return
        job = self._job
        if job.strength < 1.0 or has_regions(job):  # the first frame stands for the content
            job = dataclasses.replace(job, content=_raw(first))
        self._report_now(
            at(Stage.PREPARING, 0.0, progress_words.READING_STYLES, frames=self._frames())
        )
        self._target, self._palette = style_of(self._engines, job, first, self._held)
        self.vector_seconds = time.perf_counter() - self._started

    def _frames(self) -> Frames:
        done = self.done
        elapsed = time.perf_counter() - self._started if self._started else 0.0
        fps = done / elapsed if done and elapsed > 0 else 0.0
        left = (self.total - done) / fps if fps and self.total > done else 0.0
        return Frames(done, self.total, fps, left)

    def _progress(self) -> None:
        frames = self._frames()
        words = progress_words.frames(frames.done, frames.total, frames.fps, frames.seconds_left)
        within = frames.done / frames.total if frames.total else 0.0
        first = self._first
        assert first is not None
        self._report_now(
            at(Stage.PAINTING, within, words, size=(first.width, first.height), frames=frames)
        )

    def _report_now(self, progress: Progress) -> None:
        if self._report is not None:
            self._report(progress)


def _raw(pixels: Pixels) -> RawSource:
    return RawSource(pixels.array.tobytes(), pixels.width, pixels.height, pixels.mode, pixels.depth)

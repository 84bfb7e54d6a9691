"""A sequence: frames of a video or an animation, stylized by the fast method, in order,
consistent in time (engine/temporal.py).

A sequence is a series of fast-method jobs that share one :class:`StylizeJob` (styles,
strength, options; its content is each frame in turn) and one
:class:`~stylize.engine.temporal.SequenceState`. The styles become one mixed vector once,
at the first frame (jobs/methods/fast.py ``style_of``), so style prediction is not repeated
per frame; with ``strength`` < 1 or ColourMatch.CONTENT the first frame stands for the
content (its own vector, its palette). Every frame must have the first frame's size and
mode. Transport-neutral: the gRPC edge (server/sequence_service.py) and the CLI's
``--local`` path both drive it one frame at a time, so memory does not grow with length.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from stylize import progress_words
from stylize.engine import colour_transfer
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.errors import CancelledError, InvalidInputError
from stylize.engine.images import Pixels
from stylize.engine.temporal import FrameReport, SequenceState, TemporalSettings
from stylize.jobs.checks import checked_working_size
from stylize.jobs.job import FAST, RawSource, StylizeJob
from stylize.jobs.methods.fast import style_of
from stylize.jobs.progress import CancelCheck, Frames, Progress, Report, Stage, at
from stylize.jobs.resources import Engines


def check_sequence(job: StylizeJob, temporal: TemporalSettings) -> None:
    """What a sequence refuses beyond a single job's checks (run.check_job)."""
    if job.method != FAST:
        raise InvalidInputError(
            f"sequences use the fast method; {job.method!r} is not available for them",
            field="method",
        )
    temporal.check()


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
        self._vector: np.ndarray | None = None
        self._palette: ColourStats | None = None
        self._first: Pixels | None = None
        self._started = 0.0
        self.last: FrameReport | None = None
        self.vector_seconds = 0.0  # predicting and mixing the styles, once

    @property
    def done(self) -> int:
        return self.state.frames

    @property
    def vector(self) -> np.ndarray | None:
        """The mixed style vector every frame is painted with (after the first frame)."""
        return self._vector

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
        assert self._vector is not None
        stylized = self._engines.engine.stylize(
            pixels, self._vector, self._job.options, None, self._cancelled
        )
        if self._palette is not None:
            stylized = colour_transfer.match_pixels(stylized, self._palette)
        result, self.last = self.state.step(pixels, stylized)
        self._progress()
        return result

    def _prepare(self, first: Pixels) -> None:
        self._first = first
        self._started = time.perf_counter()
        job = self._job
        if job.strength < 1.0:  # the first frame's own style vector stands for the content's
            raw = RawSource(
                first.array.tobytes(), first.width, first.height, first.mode, first.depth
            )
            job = dataclasses.replace(job, content=raw)
        self._report_now(
            at(Stage.PREPARING, 0.0, progress_words.READING_STYLES, frames=self._frames())
        )
        self._vector, self._palette = style_of(self._engines, job, first)
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

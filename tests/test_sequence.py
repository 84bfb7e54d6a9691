"""jobs/sequence.py: a sequence of fast-method frames through the real networks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import pan_frames
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import ImageLimits, PixelMode, Pixels
from stylize.engine.style_cache import StyleVectorCache
from stylize.engine.temporal import TemporalSettings, warping_error
from stylize.jobs.job import PENDING_FRAME, NamedSource, StylizeJob, WeightedStyle
from stylize.jobs.methods import registered_methods
from stylize.jobs.progress import Progress, Stage
from stylize.jobs.resources import Engines
from stylize.jobs.sequence import SequenceRun
from stylize.jobs.style_library import StyleLibrary


def _job(strength: float = 1.0, method: str = "fast") -> StylizeJob:
    styles = (WeightedStyle(NamedSource("starry_night"), 1.0),)
    return StylizeJob(PENDING_FRAME, styles, strength=strength, method=method)


@pytest.fixture(scope="module")
def engines(engine) -> Engines:
    return Engines(engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), registered_methods())


def _warping(frames: list[Pixels], outputs: list[Pixels]) -> float:
    return float(
        np.mean(
            [
                warping_error(frames[i - 1], frames[i], outputs[i - 1], outputs[i])
                for i in range(1, len(frames))
            ]
        )
    )


def test_a_sequence_predicts_its_style_once_and_reports_frames(engines: Engines) -> None:
    frames = pan_frames(5)
    events: list[Progress] = []
    misses = engines.cache.misses
    run = SequenceRun(engines, _job(), TemporalSettings(), events.append, total=len(frames))
    outputs = [run.frame(frame) for frame in frames]
    assert engines.cache.misses - misses <= 1  # one style, predicted (at most) once
    assert all(o.array.shape == (48, 64, 3) and o.array.dtype == np.uint8 for o in outputs)
    painting = [e for e in events if e.stage is Stage.PAINTING]
    assert [e.frames.done for e in painting if e.frames] == [1, 2, 3, 4, 5]
    assert painting[-1].fraction == pytest.approx(0.95) and painting[-1].frames.fps > 0
    assert "frame 5 of 5" in painting[-1].message


def test_consistency_lowers_the_warping_error_of_real_stylized_frames(engines: Engines) -> None:
    frames = pan_frames(8)
    off = SequenceRun(engines, _job(), TemporalSettings(motion=0.0, colour=0.0))
    on = SequenceRun(engines, _job())
    plain = [off.frame(f) for f in frames]
    steady = [on.frame(f) for f in frames]
    assert _warping(frames, steady) < 0.75 * _warping(frames, plain)


def test_strength_below_one_uses_the_first_frame_as_the_content(engines: Engines) -> None:
    run = SequenceRun(engines, _job(strength=0.5))
    frames = pan_frames(2)
    run.frame(frames[0])
    run.frame(frames[1])
    assert run.vector is not None and run.vector.shape == (100,)


def test_a_frame_of_another_size_is_refused_naming_its_index(engines: Engines) -> None:
    run = SequenceRun(engines, _job())
    frames = pan_frames(2)
    run.frame(frames[0])
    run.frame(frames[1])
    small = Pixels(np.zeros((40, 64, 3), np.uint8), PixelMode.RGB)
    with pytest.raises(InvalidInputError) as caught:
        run.frame(small)
    assert caught.value.field == "frames[2]" and "frame 2 is 64x40" in str(caught.value)


def test_a_method_other_than_fast_or_optimize_is_refused(engines: Engines) -> None:
    with pytest.raises(InvalidInputError) as caught:
        SequenceRun(engines, _job(method="sketch"))
    assert caught.value.field == "method"

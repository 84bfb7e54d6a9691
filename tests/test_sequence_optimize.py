"""The optimisation method in sequences: each frame starts from the warped previous result
(Ruder et al. 2016), through the method's init image."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from conftest import pan_frames
from PIL import Image
from stylize.client.library import ClientError, RawImage, StylizeClient, named_style
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import ImageLimits, PixelMode, Pixels
from stylize.engine.optimization.method import OptimizeOptions
from stylize.engine.style_cache import StyleVectorCache
from stylize.engine.temporal import TemporalSettings, warping_error
from stylize.jobs.job import (
    PENDING_FRAME,
    EncodedSource,
    JobResult,
    NamedSource,
    StylizeJob,
    WeightedStyle,
)
from stylize.jobs.method import JobContext
from stylize.jobs.methods import registered_methods
from stylize.jobs.methods.optimize import OPTIMIZE, OptimizeSettings, settings_of
from stylize.jobs.resources import Engines
from stylize.jobs.sequence import SequenceRun
from stylize.jobs.style_library import StyleLibrary
from stylize.v1 import stylize_pb2 as pb

FRAME_BY_FRAME = TemporalSettings(motion=0.0, colour=0.0)  # no blend: only the init acts


def _job(settings: OptimizeSettings | None = None) -> StylizeJob:
    styles = (WeightedStyle(NamedSource("starry_night"), 1.0),)
    return StylizeJob(PENDING_FRAME, styles, method=OPTIMIZE, settings=settings)


class _Recorder:
    """An optimisation method that records its jobs and paints the content's negative."""

    name = OPTIMIZE
    painting_share = (0.0, 1.0)

    def __init__(self) -> None:
        self.jobs: list[StylizeJob] = []

    def model_files(self, engines: Engines) -> list:
        return []

    def check(self, job: StylizeJob) -> None:
        pass

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        self.jobs.append(job)
        return JobResult(Pixels(255 - content.array, content.mode), None, 0.0)


def _init_of(job: StylizeJob) -> np.ndarray | None:
    settings = settings_of(job)
    if settings.init_image is None:
        assert settings.options.init == "content"
        return None
    assert settings.options.init == "image"
    return np.asarray(Image.open(io.BytesIO(settings.init_image.data)).convert("RGB"))


@pytest.fixture(scope="module")
def engines(engine) -> Engines:
    return Engines(engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), registered_methods())


def test_each_frame_starts_from_the_previous_result_warped_to_it(engine) -> None:
    recorder = _Recorder()
    engines = Engines(
        engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), {OPTIMIZE: recorder}
    )
    frames = pan_frames(3, step=3)
    cut = Pixels(np.full((48, 64, 3), 250, np.uint8), PixelMode.RGB)  # a new, white scene
    run = SequenceRun(engines, _job(), FRAME_BY_FRAME)
    for frame in [*frames, cut]:
        run.frame(frame)
    inits = [_init_of(job) for job in recorder.jobs]
    assert inits[0] is None and inits[3] is None  # the first frame and the scene cut
    for index in (1, 2):
        init, content = inits[index], frames[index].array.astype(np.int16)
        assert init is not None and init.shape == content.shape
        inner = (slice(4, -4), slice(4, -8))  # the pan reveals new pixels on the right
        # frame n-1's result (its content's negative) moved with the pan: the negative of
        # frame n, not frame n itself
        assert np.abs(init[inner] - (255 - content[inner])).mean() < 8
        assert np.abs(init[inner] - content[inner]).mean() > 40
        assert run.last is not None


def test_occluded_pixels_start_from_the_content(engine) -> None:
    recorder = _Recorder()
    engines = Engines(
        engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), {OPTIMIZE: recorder}
    )
    frames = pan_frames(2, step=4)
    run = SequenceRun(engines, _job(), FRAME_BY_FRAME)
    run.frame(frames[0])
    run.frame(frames[1])
    init = _init_of(recorder.jobs[1])
    assert init is not None
    # the last columns came into view with the pan: no previous result there
    revealed = np.abs(init[8:-8, -2:].astype(np.int16) - frames[1].array[8:-8, -2:]).mean()
    assert revealed < 8


def test_a_sequence_refuses_an_init_image_of_its_own(engines: Engines) -> None:
    options = OptimizeOptions(iterations=2, init="image")
    settings = OptimizeSettings(options, EncodedSource(b"\\x89PNG"))
    with pytest.raises(InvalidInputError) as caught:
        SequenceRun(engines, _job(settings))
    assert caught.value.field == "optimize.init_image"


def _warping(frames: list[Pixels], outputs: list[Pixels]) -> float:
    return float(
        np.mean(
            [
                warping_error(frames[i - 1], frames[i], outputs[i - 1], outputs[i])
                for i in range(1, len(frames))
            ]
        )
    )


@pytest.mark.slow
def test_the_warped_start_lowers_the_warping_error_of_real_optimisation(
    engines: Engines,
) -> None:
    """Real VGG19 optimisation, a few iterations a frame, no blend: only the start differs.
    Ruder et al.'s baseline: each frame optimised alone from noise (the same seed); in the
    sequence only the first frame starts from noise, the others from the warped result."""
    frames = pan_frames(4, step=3)
    options = OptimizeOptions(iterations=4, optimizer="adam", scales=(64,), init="noise")
    job = _job(OptimizeSettings(options))
    independent = dataclasses.replace(FRAME_BY_FRAME, scene_cut=0.0)  # every frame a cut
    with SequenceRun(engines, job, independent) as run:
        alone = [run.frame(frame) for frame in frames]
    assert run.state.cuts == len(frames) - 1
    with SequenceRun(engines, job, FRAME_BY_FRAME) as run:
        warped = [run.frame(frame) for frame in frames]
    assert run.state.cuts == 0
    assert _warping(frames, warped) < 0.6 * _warping(frames, alone)


@pytest.mark.slow
def test_an_optimising_sequence_streams_over_grpc(daemon_address: str) -> None:
    frames = [RawImage(f.width, f.height, "RGB8", f.array.tobytes()) for f in pan_frames(3, step=3)]
    optimize = pb.OptimizeOptions(
        iterations=2, optimizer=pb.OptimizeOptions.OPTIMIZER_ADAM, scales=[64]
    )
    with StylizeClient(daemon_address) as daemon:
        results = list(
            daemon.stylize_sequence(frames, [named_style("starry_night")], optimize=optimize)
        )
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].scene_cut and not any(r.scene_cut for r in results[1:])
    for frame, result in zip(frames, results, strict=True):
        assert result.image is not None and len(result.image.data) == len(frame.data)
        assert result.image.data != frame.data


def test_an_optimising_sequence_with_an_init_image_is_refused_over_grpc(
    daemon_address: str,
) -> None:
    optimize = pb.OptimizeOptions(init=pb.OptimizeOptions.INIT_IMAGE, init_image=b"\x89PNG")
    frames = [RawImage(64, 48, "RGB8", bytes(64 * 48 * 3))]
    with StylizeClient(daemon_address) as daemon, pytest.raises(ClientError) as caught:
        list(daemon.stylize_sequence(frames, [named_style("starry_night")], optimize=optimize))
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.field == "stylize.optimize.init_image"

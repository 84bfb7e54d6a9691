"""The job core's method protocol: a third method is one class and one registry entry.

The example method here is the one ARCHITECTURE.md shows; it runs through the same
checks, progress and result path as the fast and optimisation methods.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import encode, sample_photo
from stylize.engine import pixel_ops
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import ImageLimits, Pixels
from stylize.engine.style_cache import StyleVectorCache
from stylize.jobs.job import EncodedSource, JobResult, NamedSource, StylizeJob, WeightedStyle
from stylize.jobs.method import Controls, JobContext, Method
from stylize.jobs.methods import registered_methods
from stylize.jobs.progress import Progress, Stage
from stylize.jobs.resources import Engines
from stylize.jobs.run import check_job, run_job
from stylize.jobs.style_library import StyleLibrary


class Pencil:  # the ten-line example of ARCHITECTURE.md ("Adding a method")
    name = "pencil"
    painting_share = (0.0, 0.95)

    def model_files(self, engines: Engines) -> list:
        return []

    def check(self, job: StylizeJob) -> None:
        if job.strength != 1.0:
            raise InvalidInputError("pencil has no strength", field="strength")

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        context.progress(Stage.PAINTING, 0.0, "drawing")
        grey = np.repeat((content.rgb() @ pixel_ops.LUMA)[..., None], 3, axis=2)
        pixels = pixel_ops.in_mode_of(content, grey.round().astype(np.uint8))
        return JobResult(pixels=pixels, vector=None, seconds=0.0)


def _engines(engine) -> Engines:
    methods: dict[str, Method] = {**registered_methods(), "pencil": Pencil()}
    return Engines(engine, StyleLibrary(), StyleVectorCache(), ImageLimits(), methods)


def _job(method: str, strength: float = 1.0) -> StylizeJob:
    content = EncodedSource(encode(sample_photo(48, 32)))
    styles = (WeightedStyle(NamedSource("starry_night"), 1.0),)
    return StylizeJob(content, styles, strength=strength, method=method)


def test_a_registered_third_method_runs_through_the_job_core(engine) -> None:
    engines = _engines(engine)
    events: list[Progress] = []
    check_job(engines, _job("pencil"))
    result = run_job(engines, _job("pencil"), events.append, Controls(lambda: False))
    rgb = result.pixels.rgb()
    assert rgb.shape == (32, 48, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert [(e.stage, e.fraction, e.message) for e in events] == [(Stage.PAINTING, 0.0, "drawing")]


def test_the_method_s_own_rules_apply_at_the_check(engine) -> None:
    with pytest.raises(InvalidInputError) as refused:
        check_job(_engines(engine), _job("pencil", strength=0.5))
    assert refused.value.field == "strength"


def test_an_unknown_method_is_refused_naming_the_field(engine) -> None:
    with pytest.raises(
        InvalidInputError, match="'sketch' is not one of fast, optimize, pencil"
    ) as no:
        check_job(_engines(engine), _job("sketch"))
    assert no.value.field == "method"


def test_each_method_reports_its_own_share_of_the_bar(engine) -> None:
    engines = _engines(engine)
    events: list[Progress] = []
    run_job(engines, _job("fast"), events.append, Controls(lambda: False))
    painting = [e.fraction for e in events if e.stage is Stage.PAINTING]
    assert events[0].stage is Stage.PREPARING and events[0].fraction == 0.0
    assert painting[0] == pytest.approx(0.15) and painting[-1] == pytest.approx(0.95)
    assert painting == sorted(painting)

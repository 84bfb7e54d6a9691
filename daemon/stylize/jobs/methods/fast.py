"""The fast method: predict and mix style vectors, apply strength, one network pass."""

from __future__ import annotations

import time

import numpy as np

from stylize import progress_words
from stylize.engine import colour_transfer, style_mixing
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.images import Pixels
from stylize.engine.style_engine import StylizeProgress
from stylize.jobs.checks import blamed_on, checked_working_size
from stylize.jobs.job import FAST, JobResult, StylizeJob
from stylize.jobs.method import JobContext
from stylize.jobs.progress import Stage
from stylize.jobs.resources import Engines
from stylize.models.provenance import ModelFile


class FastMethod:
    """Ghiasi et al. 2017: a style vector per style image, mixed, then the transfer network."""

    name = FAST
    painting_share = (0.15, 0.95)  # predicting the style vectors comes first

    def model_files(self, engines: Engines) -> list[ModelFile]:
        return [engines.engine.predictor_file, engines.engine.transformer_file]

    def check(self, job: StylizeJob) -> None:
        return None  # the shared checks (jobs/checks.py) cover every fast setting

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        engines, progress = context.engines, context.progress
        size = checked_working_size(content, job.options.max_side, job.options.stroke_scale)
        progress(Stage.PREPARING, 0.0, progress_words.READING_STYLES)
        mixed, palette = style_of(engines, job, content)
        words = progress_words.painting(progress_words.size(*size, (content.width, content.height)))
        progress(Stage.PAINTING, 0.0, words, size=size)

        def on_step(step: StylizeProgress) -> None:
            progress(Stage.PAINTING, step.fraction, words, size=size)

        pixels = engines.engine.stylize(
            content, mixed, job.options, on_step, context.controls.cancelled
        )
        if palette is not None:
            pixels = colour_transfer.match_pixels(pixels, palette)
        return JobResult(pixels=pixels, vector=mixed, seconds=time.perf_counter() - context.started)


def style_of(
    engines: Engines, job: StylizeJob, content: Pixels
) -> tuple[np.ndarray, ColourStats | None]:
    """The job's mixed style vector (with its strength) and, with ColourMatch.STYLE, the
    palette its result takes. Sequences (jobs/sequence.py) call it once, with their first
    frame as ``content``."""
    strength = style_mixing.check_strength(job.strength)
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    recolour = engines.content_palette(job, content)
    vectors = []
    for index, style in enumerate(job.styles):
        with blamed_on(f"styles[{index}]"):
            vectors.append(
                engines.vector(style.source, job.preprocess, f"style {index + 1}", recolour)
            )
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = engines.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    return mixed, engines.style_palette(job, list(weights))

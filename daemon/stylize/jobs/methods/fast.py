"""The fast method: predict and mix style vectors, apply strength, one network pass."""

from __future__ import annotations

import contextlib
import time

import numpy as np

from stylize import progress_words
from stylize.engine import colour_transfer, style_mixing
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import Pixels
from stylize.engine.regions import RegionStyle, StyleRegions
from stylize.engine.style_engine import StylizeProgress
from stylize.jobs.checks import blamed_on, checked_working_size
from stylize.jobs.job import FAST, JobResult, StylizeJob
from stylize.jobs.method import JobContext
from stylize.jobs.progress import Stage
from stylize.jobs.resources import Engines
from stylize.models.provenance import ModelFile


def has_regions(job: StylizeJob) -> bool:
    """Whether the job paints styles in regions or strength by a map (engine/regions.py)."""
    return job.strength_map is not None or any(style.region is not None for style in job.styles)


class FastMethod:
    """Ghiasi et al. 2017: a style vector per style image, mixed, then the transfer network.

    With regions the vectors are not mixed here: the network mixes them per pixel inside
    its norms (engine/regions.py), from each style's mask, and the strength map.
    """

    name = FAST
    painting_share = (0.15, 0.95)  # predicting the style vectors comes first

    def model_files(self, engines: Engines) -> list[ModelFile]:
        return [engines.engine.predictor_file, engines.engine.transformer_file]

    def check(self, job: StylizeJob) -> None:
        for index, style in enumerate(job.styles):
            if style.style_region is not None:
                raise InvalidInputError(
                    f"style {index + 1} has a style region (a mask over the style image), "
                    "which only the optimisation method uses: the fast method's style vector "
                    "sums up the whole style image; crop the style image instead, or use "
                    "METHOD_OPTIMIZE",
                    field=f"styles[{index}].style_region",
                )

    def run(self, job: StylizeJob, content: Pixels, context: JobContext) -> JobResult:
        engines, progress = context.engines, context.progress
        size = checked_working_size(content, job.options.max_side, job.options.stroke_scale)
        progress(Stage.PREPARING, 0.0, progress_words.READING_STYLES)
        vectors, palette = style_vectors(engines, job, content)
        words = progress_words.painting(progress_words.size(*size, (content.width, content.height)))

        def on_step(step: StylizeProgress) -> None:
            progress(Stage.PAINTING, step.fraction, words, size=size)

        with contextlib.ExitStack() as held:  # the masks' memory, until the picture is made
            if has_regions(job):
                vector = None
                target: np.ndarray | StyleRegions = style_regions(
                    engines, job, content, vectors, held
                )
            else:
                target = vector = mixed_vector(engines, job, vectors)
            progress(Stage.PAINTING, 0.0, words, size=size)
            pixels = engines.engine.stylize(
                content, target, job.options, on_step, context.controls.cancelled
            )
        if palette is not None:
            pixels = colour_transfer.match_pixels(pixels, palette)
        seconds = time.perf_counter() - context.started
        return JobResult(pixels=pixels, vector=vector, seconds=seconds)


def style_regions(
    engines: Engines,
    job: StylizeJob,
    content: Pixels,
    vectors: list[np.ndarray],
    held: contextlib.ExitStack,
) -> StyleRegions:
    """The job's styles, masks and strength map as a StyleRegions, checked against the
    content (errors name ``styles[i].region`` or ``strength_map``); the masks' memory is
    held until ``held`` closes (a sequence holds them for all its frames)."""
    styles = []
    for index, (style, vector) in enumerate(zip(job.styles, vectors, strict=True)):
        mask = None
        if style.region is not None:
            with blamed_on(f"styles[{index}].region"):
                mask = engines.mask(style.region, f"style {index + 1}'s region", held)
        styles.append(RegionStyle(vector, style.weight, mask))
    strength_map = None
    if job.strength_map is not None:
        with blamed_on("strength_map"):
            strength_map = engines.mask(job.strength_map, "the strength map", held)
    # The content's own vector: for a strength below 1, a strength map, or pixels no
    # region covers (possible only when every style has one); predicted with the job's
    # preprocessing and cached, as the plain path's.
    own = None
    if job.strength < 1 or strength_map is not None or all(s.mask is not None for s in styles):
        own = engines.vector(job.content, job.preprocess, "content image")
    regions = StyleRegions(styles, job.strength, strength_map, own)
    regions.check(content.width, content.height)
    return regions


def style_vectors(
    engines: Engines, job: StylizeJob, content: Pixels
) -> tuple[list[np.ndarray], ColourStats | None]:
    """Each style's vector (its image recoloured first with ColourMatch.CONTENT) and, with
    ColourMatch.STYLE, the palette the result takes."""
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    recolour = engines.content_palette(job, content)
    vectors = []
    for index, style in enumerate(job.styles):
        with blamed_on(f"styles[{index}]"):
            vectors.append(
                engines.vector(style.source, job.preprocess, f"style {index + 1}", recolour)
            )
    return vectors, engines.style_palette(job, list(weights))


def mixed_vector(engines: Engines, job: StylizeJob, vectors: list[np.ndarray]) -> np.ndarray:
    """The styles' vectors mixed by their weights, then the job's strength applied."""
    strength = style_mixing.check_strength(job.strength)
    weights = style_mixing.normalised_weights([style.weight for style in job.styles])
    mixed = style_mixing.mix(vectors, list(weights))
    if strength < 1.0:
        own = engines.vector(job.content, job.preprocess, "content image")
        mixed = style_mixing.with_strength(mixed, own, strength)
    return mixed


def style_of(
    engines: Engines, job: StylizeJob, content: Pixels, held: contextlib.ExitStack
) -> tuple[np.ndarray | StyleRegions, ColourStats | None]:
    """What the network paints with (the mixed vector with its strength, or the regions
    with their masks held until ``held`` closes) and the result's palette, if any.
    Sequences (jobs/sequence.py) call it once, with their first frame as ``content``."""
    vectors, palette = style_vectors(engines, job, content)
    if has_regions(job):
        return style_regions(engines, job, content, vectors, held), palette
    return mixed_vector(engines, job, vectors), palette

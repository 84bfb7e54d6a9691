"""Refusals a job's setup alone can decide, before any upload is read.

Errors name the field at fault (``styles[1]``, ``strength``, ``options.max_side``),
relative to the request's setup. These rules hold for every method; each method adds
its own (``Method.check``), and run.check_job applies both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from stylize.engine import images, style_mixing
from stylize.engine.errors import InvalidInputError, StylizeError
from stylize.engine.images import MIN_SIDE, ImageLimits, PixelMode, Pixels
from stylize.engine.stroke_scale import MIN_STROKE_SCALE, check_stroke_scale, working_size
from stylize.jobs.job import (
    ColourMatch,
    ImageSource,
    NamedSource,
    RawSource,
    StyleSource,
    StylizeJob,
    VectorSource,
)
from stylize.jobs.style_library import StyleLibrary


@contextlib.contextmanager
def blamed_on(field: str) -> Iterator[None]:
    """Errors raised inside name ``field`` unless they already name a field of their own."""
    try:
        yield
    except StylizeError as error:
        if error.field is None:
            error.field = field
        raise


def check_shared(job: StylizeJob, library: StyleLibrary, limits: ImageLimits) -> None:
    """Refuse what every method refuses (run.check_job adds the method's own rules)."""
    with blamed_on("strength"):
        style_mixing.check_strength(job.strength)
    for index, style in enumerate(job.styles):
        with blamed_on(f"styles[{index}]"):
            check_style_source(style.source, library, limits, f"style {index + 1}")
    for index, style in enumerate(job.styles):
        for name, words, mask in (
            ("region", "region", style.region),
            ("style_region", "style region", style.style_region),
        ):
            if mask is not None:
                with blamed_on(f"styles[{index}].{name}"):
                    check_mask_source(mask, limits, f"style {index + 1}'s {words}")
    if job.strength_map is not None:
        with blamed_on("strength_map"):
            check_mask_source(job.strength_map, limits, "the strength map")
    try:
        style_mixing.normalised_weights([style.weight for style in job.styles])
    except style_mixing.WeightError as error:
        error.field = error.field or f"styles[{error.index}].weight"
        raise
    if job.colour_match is not ColourMatch.NONE:
        for index, style in enumerate(job.styles):
            if isinstance(style.source, VectorSource):
                raise InvalidInputError(
                    f"style {index + 1} is a style vector, which has no colours to match; send "
                    "the style image, or set options.color_match to none",
                    field=f"styles[{index}]",
                )
    if job.colour_match is ColourMatch.STYLE and job.options.preserve_colors:
        raise InvalidInputError(
            "options.color_match STYLE (the style's palette) contradicts preserve_colors "
            "(the content's colours); choose one",
            field="options.color_match",
        )
    check_stroke_scale(job.options.stroke_scale)
    max_side = job.options.max_side
    if max_side and max_side < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side is {max_side}; use 0 (no cap) or at least {MIN_SIDE}",
            field="options.max_side",
        )


def check_style_source(
    source: StyleSource, library: StyleLibrary, limits: ImageLimits, what: str
) -> None:
    if isinstance(source, NamedSource):
        library.get(source.name)
    elif isinstance(source, VectorSource):
        style_mixing.check_vector(source.values, what)
    elif isinstance(source, RawSource):
        _check_raw(source, limits, what)
    elif not source.data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")


def _check_raw(source: RawSource, limits: ImageLimits, what: str) -> None:
    limits.check(source.width, source.height, what)
    expected = images.raw_bytes(source.width, source.height, source.mode, source.depth)
    if len(source.data) != expected:
        raise InvalidInputError(
            f"{what}: raw {source.mode.name} {source.depth.name} buffer has "
            f"{len(source.data):,} bytes but {source.width}x{source.height} needs {expected:,}"
        )


def check_mask_source(source: ImageSource, limits: ImageLimits, what: str) -> None:
    """A region or strength map as far as its setup shows: greyscale raw pixels of the
    right length, or a file whose header gives a size within the limits. Its values and
    its aspect ratio against the content are the method's to check (engine/regions.py)."""
    if isinstance(source, RawSource):
        if source.mode is not PixelMode.GRAY:
            raise InvalidInputError(
                f"{what} is raw {source.mode.name} pixels; a mask is one grey channel: "
                "GRAY8, GRAY16 or GRAYF32"
            )
        _check_raw(source, limits, what)
        return
    if not source.data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")
    width, height = images.declared_size(source.data, what)
    limits.check(width, height, what)


def checked_working_size(
    content: Pixels, max_side: int, stroke_scale: float = MIN_STROKE_SCALE
) -> tuple[int, int]:
    """The size a method works at; refused if ``max_side`` leaves a side below MIN_SIDE.

    The stroke scale is the fast method's (the optimisation works at ``max_side`` only).
    """
    width, height = working_size(content.width, content.height, stroke_scale, max_side)
    if min(width, height) < MIN_SIDE:
        raise InvalidInputError(
            f"options.max_side {max_side} would stylize the {content.width}x{content.height} "
            f"content at {width}x{height}; its short side must stay at least {MIN_SIDE} pixels",
            field="options.max_side",
        )
    return width, height

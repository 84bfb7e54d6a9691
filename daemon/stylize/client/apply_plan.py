"""What ``stylize apply`` will do, worked out before any job runs.

Turns the command line (content files or globs, ``--style FILE_OR_NAME[:WEIGHT]``
specs, ``--output``, ``--each-style``) into a list of :class:`ApplyJob`, refusing
a bad weight, a missing style file or an output the CLI cannot write up front,
so a batch never fails halfway for a reason that was visible at the start.
"""

from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path

STDIO = "-"
OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_TEMPLATE = "{stem}-{style}.png"
_GLOB_CHARS = frozenset("*?[")


class PlanError(Exception):
    """The command line cannot work; ``usage`` says whether it is a usage error (exit 2)."""

    def __init__(self, message: str, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class StyleSpec:
    target: str  # a file path or a named style
    weight: float
    is_file: bool
    mask: str | None = None  # a --mask file: where in the picture this style paints

    @property
    def label(self) -> str:
        """Short name for file names and messages."""
        return Path(self.target).stem if self.is_file else self.target


@dataclass(frozen=True)
class ApplyJob:
    content: str  # a path, or "-" for standard input
    styles: tuple[StyleSpec, ...]  # mixed into one result
    output: str  # a path, or "-" for standard output


def parse_style_spec(spec: str) -> tuple[str, float]:
    """``FILE[:WEIGHT]`` or ``NAME[:WEIGHT]``; a colon in a path (``C:\\x.jpg``) is no weight."""
    if Path(spec).is_file():
        return spec, 1.0
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail:
        return spec, 1.0
    try:
        weight = float(tail)
    except ValueError:
        raise PlanError(
            f"--style {spec!r}: {tail!r} is not a weight; write FILE_OR_NAME[:WEIGHT] with a "
            "number, e.g. starry_night:0.5"
        ) from None
    if not math.isfinite(weight) or weight < 0:
        raise PlanError(f"--style {spec!r}: the weight must be a finite number >= 0")
    return head, weight


def style_spec(spec: str, mask: str | None = None) -> StyleSpec:
    """The style a ``--style`` names: an existing file, else a named style."""
    from stylize.engine.images import ACCEPTED_FORMATS

    target, weight = parse_style_spec(spec)
    if Path(target).is_file():
        return StyleSpec(target, weight, True, mask)
    extensions = {f".{name.lower()}" for name in ACCEPTED_FORMATS} | set(OUTPUT_EXTENSIONS)
    if os.sep in target or "/" in target or Path(target).suffix.lower() in extensions:
        raise PlanError(f"no such file: {target}", usage=False)
    return StyleSpec(target, weight, False, mask)


def image_size(path: str, what: str) -> tuple[int, int]:
    """(width, height) as the daemon will see the file (EXIF rotation applied), from its
    header alone; an unreadable or undecodable file is a usage error."""
    from PIL import Image, UnidentifiedImageError

    from stylize.engine.images import ACCEPTED_FORMATS

    if not Path(path).is_file():
        raise PlanError(f"{what}: no such file: {path}")
    try:
        with Image.open(path, formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            turned = image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        reason = (
            "not an image in an accepted format"
            if isinstance(error, UnidentifiedImageError)
            else str(error)
        )
        raise PlanError(f"{what} {path}: cannot be read as an image ({reason})") from None
    return (height, width) if turned else (width, height)


_EXIF_ORIENTATION = 0x0112


def check_masks(jobs: list[ApplyJob], strength_map: str | None) -> None:
    """Refuse, before any job, a ``--mask`` or ``--strength-map`` file that is missing,
    not an image, or not the shape of a content image (same aspect ratio, within a pixel:
    the daemon's rule, engine/aspect.py). Standard input's size is the daemon's to check."""
    from stylize.engine.aspect import aspect_matches

    sizes: dict[str, tuple[int, int]] = {}

    def size(path: str, what: str) -> tuple[int, int]:
        if path not in sizes:
            sizes[path] = image_size(path, what)
        return sizes[path]

    for job in jobs:
        masks = [(f"--mask {s.mask}", s.mask) for s in job.styles if s.mask is not None]
        if strength_map is not None:
            masks.append((f"--strength-map {strength_map}", strength_map))
        for what, path in masks:
            mask_width, mask_height = size(path, what)
            if job.content == STDIO:
                continue
            width, height = size(job.content, job.content)
            if not aspect_matches(mask_width, mask_height, width, height):
                raise PlanError(
                    f"{what} is {mask_width}x{mask_height}, not the shape of {job.content} "
                    f"({width}x{height}): give the mask the content's size or aspect ratio"
                )


def expand_contents(patterns: list[str]) -> list[str]:
    """Content paths: ``-`` as is, globs expanded (sorted), plain paths checked."""
    contents: list[str] = []
    for pattern in patterns:
        if pattern == STDIO:
            contents.append(pattern)
        elif _GLOB_CHARS & set(pattern) and not Path(pattern).exists():
            matches = sorted(p for p in glob.glob(pattern) if Path(p).is_file())
            if not matches:
                raise PlanError(f"no file matches {pattern}", usage=False)
            contents.extend(matches)
        elif not Path(pattern).is_file():
            raise PlanError(f"no such file: {pattern}", usage=False)
        else:
            contents.append(pattern)
    if contents.count(STDIO) > 1:
        raise PlanError("standard input (-) can be read only once")
    return contents


def _template(output: str, batch: bool) -> str | None:
    """The output name template, or None for one plain output path."""
    if "{" in output:
        return output
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        return str(Path(output) / DEFAULT_TEMPLATE)
    if batch:
        raise PlanError(
            f"--output {output!r} names one file, but this command writes several: give a "
            f"folder or a template such as 'out/{DEFAULT_TEMPLATE}'"
        )
    return None


def _check_output(path: str) -> None:
    if path == STDIO:
        return
    if Path(path).suffix.lower() not in OUTPUT_EXTENSIONS:
        raise PlanError(
            f"cannot write {path!r}: the output must end in one of {', '.join(OUTPUT_EXTENSIONS)}"
        )


def plan(
    contents: list[str], styles: list[StyleSpec], output: str, each_style: bool
) -> list[ApplyJob]:
    """One job per content (per style with ``each_style``), each with its output name."""
    mixes = [(s,) for s in styles] if each_style else [tuple(styles)]
    batch = len(contents) * len(mixes) > 1
    if output == STDIO and batch:
        raise PlanError("standard output (-) can take only one result")
    template = _template(output, batch) if output != STDIO else None
    jobs = []
    for n, (content, mix) in enumerate(((c, m) for c in contents for m in mixes), start=1):
        name = output
        if template is not None:
            stem = "stdin" if content == STDIO else Path(content).stem
            try:
                name = template.format(stem=stem, style="+".join(s.label for s in mix), n=n)
            except (KeyError, IndexError, ValueError) as error:
                raise PlanError(
                    f"--output template {template!r}: {error}; use {{stem}}, {{style}}, {{n}}"
                ) from None
        _check_output(name)
        jobs.append(ApplyJob(content, mix, name))
    names = [job.output for job in jobs]
    if len(set(names)) != len(names):
        raise PlanError("several results would get the same --output name; add {stem} or {n}")
    return jobs

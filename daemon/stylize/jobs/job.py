"""What one stylize request asks for, as transport-neutral dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from stylize.engine.images import Depth, PixelMode, Pixels
from stylize.engine.optimization.optimizers import LossTerms
from stylize.engine.style_engine import StylePreprocess, StylizeOptions

Buffer = bytes | bytearray  # uploads arrive in a bytearray and are used in place


@dataclass(frozen=True)
class EncodedSource:
    data: Buffer


@dataclass(frozen=True)
class RawSource:
    data: Buffer
    width: int
    height: int
    mode: PixelMode
    depth: Depth = Depth.U8  # little-endian samples


@dataclass(frozen=True)
class VectorSource:
    values: tuple[float, ...]


@dataclass(frozen=True)
class NamedSource:
    name: str


ImageSource = EncodedSource | RawSource
StyleSource = EncodedSource | RawSource | VectorSource | NamedSource


@dataclass(frozen=True)
class WeightedStyle:
    source: StyleSource
    weight: float
    # Regions (ARCHITECTURE.md "Regions"): a greyscale mask over the content steering where
    # this style paints (soft values are weights); None: everywhere.
    region: ImageSource | None = None
    # The optimisation method only: a mask over the style image, to take the style from part
    # of it; None: all of it.
    style_region: ImageSource | None = None


class ColourMatch(enum.Enum):
    """Colour matching (Gatys et al. 2017, engine/colour_transfer.py)."""

    NONE = "none"  # the network's own colours
    CONTENT = "content"  # style images recoloured to the content's palette before prediction
    STYLE = "style"  # the result recoloured to the style images' palette


# The content of a job that stands for a sequence's frames (jobs/sequence.py): each frame
# arrives on its own.
PENDING_FRAME = EncodedSource(b"")

FAST = "fast"  # the method a job runs when it names none (jobs/methods/)


@dataclass(frozen=True)
class StylizeJob:
    """One picture to make, by the method registered as ``method`` (jobs/methods/).

    ``options`` (max side, colour keeping, stroke scale) and ``colour_match`` apply to
    every method; ``settings`` are the method's own (None for the fast method, whose
    ``strength`` and ``preprocess`` are here because the wire has them at the top level).
    """

    content: ImageSource
    styles: tuple[WeightedStyle, ...]
    strength: float = 1.0
    preprocess: StylePreprocess = field(default_factory=StylePreprocess)
    options: StylizeOptions = field(default_factory=StylizeOptions)
    colour_match: ColourMatch = ColourMatch.NONE
    method: str = FAST
    settings: object = None
    strength_map: ImageSource | None = None  # a greyscale mask scaling strength per pixel


@dataclass(frozen=True)
class JobResult:
    pixels: Pixels
    vector: np.ndarray | None  # the fast method's mixed style vector
    seconds: float
    iterations: int = 0  # the optimisation's, run
    losses: LossTerms | None = None  # the optimisation's, at the result
    finished_early: bool = False  # stopped by "finish" or its time limit

"""What jobs run on, and how their sources become pixels and style vectors.

:class:`Engines` holds the fast engine (with its memory budget), the style-vector cache,
the style library, the image limits and the registered methods. Decoding happens here,
inside the bounded job slot, with the decoded size reserved in the memory budget first,
so a flood of large images cannot decode in parallel beyond the daemon's limits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from stylize.engine import colour_transfer, images, pixel_ops, regions, style_mixing
from stylize.engine.colour_transfer import ColourStats
from stylize.engine.errors import InvalidInputError
from stylize.engine.images import ImageLimits, Pixels
from stylize.engine.style_cache import StyleVectorCache, cache_key
from stylize.engine.style_engine import StyleEngine, StylePreprocess
from stylize.jobs.checks import blamed_on
from stylize.jobs.job import (
    ColourMatch,
    EncodedSource,
    ImageSource,
    NamedSource,
    RawSource,
    StyleSource,
    StylizeJob,
    VectorSource,
)
from stylize.jobs.style_library import StyleLibrary

if TYPE_CHECKING:
    from stylize.jobs.method import Method


def decode_image(source: ImageSource, limits: ImageLimits, what: str) -> Pixels:
    if isinstance(source, RawSource):
        return images.from_raw(
            source.data, source.width, source.height, source.mode, limits, what, source.depth
        )
    return images.decode(source.data, limits, what)


class Engines:
    """What jobs run on; ``methods`` by name (jobs/methods.registered_methods())."""

    def __init__(
        self,
        engine: StyleEngine,
        library: StyleLibrary,
        cache: StyleVectorCache,
        limits: ImageLimits,
        methods: Mapping[str, Method],
    ) -> None:
        self.engine = engine
        self.library = library
        self.cache = cache
        self.limits = limits
        self.methods = dict(methods)

    def style_pixels(
        self,
        source: StyleSource,
        what: str,
        held: contextlib.ExitStack,
        recolour: ColourStats | None = None,
    ) -> Pixels:
        """A style image's pixels, for methods that need images rather than vectors; their
        memory stays reserved until ``held`` closes (they live as long as the run)."""
        if isinstance(source, VectorSource):
            raise InvalidInputError(
                f"{what} is a style vector; the optimisation method needs the style image"
            )
        pixels = self.decoded(self._image_source(source), what, held)
        return colour_transfer.match_pixels(pixels, recolour) if recolour is not None else pixels

    def decoded(
        self, source: EncodedSource | RawSource, what: str, held: contextlib.ExitStack
    ) -> Pixels:
        """Decode with the decoded size reserved first, until ``held`` closes."""
        held.enter_context(self.engine.budget.reserve(self._decode_bytes(source, what), f"{what}"))
        return decode_image(source, self.limits, what)

    def mask(self, source: ImageSource, what: str, held: contextlib.ExitStack) -> np.ndarray:
        """A region or strength map as float32 [H, W] (engine/regions.py's form: 8-bit / 255,
        16-bit / 65535, floats as they are; a colour file's luminance, alpha ignored), with
        the decoded pixels and the float copy reserved until ``held`` closes."""
        pixels = self.decoded(source, what, held)
        held.enter_context(
            self.engine.budget.reserve(4 * pixels.width * pixels.height, f"{what} (float)")
        )
        if pixels.mode.is_gray:
            return regions.mask_from_array(pixels.array[..., 0])
        return (images.to_unit(pixels.rgb()) @ pixel_ops.LUMA).astype(np.float32)

    def vector(
        self,
        source: StyleSource | ImageSource,
        preprocess: StylePreprocess,
        what: str,
        recolour: ColourStats | None = None,
    ) -> np.ndarray:
        """The style vector of ``source``, its image first recoloured to ``recolour`` if given."""
        if isinstance(source, VectorSource):
            return style_mixing.check_vector(source.values, what)
        image = self._image_source(source)
        options = (preprocess.size, preprocess.crop, recolour.digest() if recolour else "")
        if isinstance(image, RawSource):
            key = cache_key(
                "raw",
                image.data,
                image.width,
                image.height,
                image.mode.name,
                image.depth.name,
                *options,
            )
        else:
            key = cache_key("encoded", image.data, *options)

        def predict() -> np.ndarray:
            with self._decoded(image, what) as pixels:
                if recolour is not None:
                    pixels = colour_transfer.match_pixels(pixels, recolour)
                return self.engine.style_vector(pixels, preprocess)

        return self.cache.get_or_compute(key, predict)

    def colour_stats(self, source: StyleSource, what: str) -> ColourStats:
        """Colour statistics of a style image (a bare vector has none)."""
        if isinstance(source, VectorSource):
            raise InvalidInputError(
                f"{what} is a style vector, which has no colours to match; send the style "
                "image, or set options.color_match to none"
            )
        with self._decoded(self._image_source(source), what) as pixels:
            return colour_transfer.colour_stats(pixels.rgb())

    def content_palette(self, job: StylizeJob, content: Pixels) -> ColourStats | None:
        """With ColourMatch.CONTENT: the content's colours, which the style images take first."""
        if job.colour_match is ColourMatch.CONTENT and not content.mode.is_gray:
            return colour_transfer.colour_stats(content.rgb())
        return None

    def style_palette(self, job: StylizeJob, weights: Sequence[float]) -> ColourStats | None:
        """With ColourMatch.STYLE: the weighted colour statistics of the style images."""
        if job.colour_match is not ColourMatch.STYLE:
            return None
        stats = []
        for index, style in enumerate(job.styles):
            with blamed_on(f"styles[{index}]"):
                stats.append(self.colour_stats(style.source, f"style {index + 1}"))
        return colour_transfer.mixed_stats(stats, list(weights))

    def _image_source(self, source: StyleSource | ImageSource) -> EncodedSource | RawSource:
        if isinstance(source, NamedSource):
            return EncodedSource(self.library.get(source.name).path.read_bytes())
        assert not isinstance(source, VectorSource)
        return source

    @contextlib.contextmanager
    def _decoded(self, source: EncodedSource | RawSource, what: str) -> Iterator[Pixels]:
        """Decode, with the decoded pixels reserved in the memory budget meanwhile."""
        with contextlib.ExitStack() as held:
            yield self.decoded(source, what, held)

    def _decode_bytes(self, source: EncodedSource | RawSource, what: str) -> int:
        """What decoding will take (images.decode_bytes, the one rule), limits checked."""
        if isinstance(source, EncodedSource):
            width, height = images.declared_size(source.data, what)
            self.limits.check(width, height, what)
            return images.declared_decode_bytes(source.data, what)
        self.limits.check(source.width, source.height, what)
        return images.decode_bytes(source.width, source.height, source.mode.channels, source.depth)

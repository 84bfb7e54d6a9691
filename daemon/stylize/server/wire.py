"""Translation between stylize.v1 messages and the transport-neutral job dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import DecodeError

from stylize.engine.errors import InvalidInputError, TooManyStylesError
from stylize.engine.images import PixelMode, Pixels
from stylize.engine.style_engine import DEFAULT_STYLE_SIZE, StylePreprocess, StylizeOptions
from stylize.jobs import (
    ColourMatch,
    EncodedSource,
    ImageSource,
    NamedSource,
    RawSource,
    StyleSource,
    StylizeJob,
    VectorSource,
    WeightedStyle,
)
from stylize.v1 import stylize_pb2 as pb

M = TypeVar("M")

MAX_STYLE_SIZE = 1024


class Undecodable:
    """Stands for request bytes that are not a valid message of the method's type.

    grpcio answers a deserializer that raises with a bare INTERNAL; the service's own
    deserializers return this instead, and the servicer refuses it as INVALID_ARGUMENT.
    """


UNDECODABLE = Undecodable()


def tolerant(message_type: type[M]) -> Callable[[bytes], M | Undecodable]:
    """A request deserializer that never raises (see :class:`Undecodable`)."""

    def parse(data: bytes) -> M | Undecodable:
        try:
            return message_type.FromString(data)  # type: ignore[attr-defined,no-any-return]
        except DecodeError:
            return UNDECODABLE

    return parse


def check_decoded(message: object, message_type: type[M], what: str) -> M:
    if not isinstance(message, message_type):
        raise InvalidInputError(
            f"{what} is not a valid {message_type.__name__} message (protobuf could not "
            "parse its bytes)"
        )
    return message
# The content of a job built from its setup, before the upload has arrived.
PENDING_CONTENT = EncodedSource(b"")

PIXEL_MODES: dict[pb.PixelFormat, PixelMode] = {
    pb.PIXEL_FORMAT_RGB8: PixelMode.RGB,
    pb.PIXEL_FORMAT_RGBA8: PixelMode.RGBA,
    pb.PIXEL_FORMAT_GRAY8: PixelMode.GRAY,
    pb.PIXEL_FORMAT_GRAYA8: PixelMode.GRAYA,
}
PIXEL_FORMATS = {mode: fmt for fmt, mode in PIXEL_MODES.items()}


def pixel_mode(fmt: pb.PixelFormat, what: str) -> PixelMode:
    mode = PIXEL_MODES.get(fmt)
    if mode is None:
        raise InvalidInputError(
            f"{what}: pixel format {fmt} is not one of RGB8, RGBA8, GRAY8, GRAYA8"
        )
    return mode


def raw_source(raw: pb.RawImage, what: str, data: bytes | bytearray | None = None) -> RawSource:
    return RawSource(
        data=raw.data if data is None else data,
        width=raw.width,
        height=raw.height,
        mode=pixel_mode(raw.format, what),
    )


def style_source(message: pb.StyleSource, what: str, field: str = "style") -> StyleSource:
    kind = message.WhichOneof("source")
    if kind == "encoded":
        return EncodedSource(message.encoded)
    if kind == "raw":
        return raw_source(message.raw, what)
    if kind == "vector":
        return VectorSource(tuple(message.vector.values))
    if kind == "named":
        return NamedSource(message.named)
    raise InvalidInputError(
        f"{what} is empty: give encoded bytes, raw pixels, a vector or a name", field=field
    )


def preprocess(message: pb.StylePreprocess) -> StylePreprocess:
    size = message.size or DEFAULT_STYLE_SIZE
    if not 16 <= size <= MAX_STYLE_SIZE:
        raise InvalidInputError(
            f"style preprocess size {size} must be between 16 and {MAX_STYLE_SIZE}",
            field="options.style_preprocess.size",
        )
    return StylePreprocess(size=size, crop=not message.no_crop)


def content_source(header: pb.ContentHeader, data: bytes | bytearray) -> ImageSource:
    if header.WhichOneof("kind") == "raw":
        return raw_source(header.raw, "content image", data)
    return EncodedSource(data)


def stylize_job(setup: pb.StylizeSetup, content: ImageSource, max_styles: int) -> StylizeJob:
    if not setup.styles:
        raise InvalidInputError("no style given: add at least one style source", field="styles")
    if len(setup.styles) > max_styles:
        raise TooManyStylesError(
            f"{len(setup.styles)} styles given; at most {max_styles} can be mixed",
            field="styles",
        )
    styles = tuple(
        WeightedStyle(
            source=style_source(s, f"style {i + 1}", f"styles[{i}]"),
            weight=s.weight if s.HasField("weight") else 1.0,
        )
        for i, s in enumerate(setup.styles)
    )
    options = setup.options
    output_is_raw(setup)  # refuse an unknown output format now, not after the job
    return StylizeJob(
        content=content,
        styles=styles,
        strength=setup.strength if setup.HasField("strength") else 1.0,
        preprocess=preprocess(options.style_preprocess),
        options=StylizeOptions(max_side=options.max_side, preserve_colors=options.preserve_colors),
        colour_match=colour_match(options.color_match),
    )


COLOUR_MATCHES = {
    pb.COLOR_MATCH_NONE: ColourMatch.NONE,
    pb.COLOR_MATCH_CONTENT: ColourMatch.CONTENT,
    pb.COLOR_MATCH_STYLE: ColourMatch.STYLE,
}


def colour_match(value: int) -> ColourMatch:
    match = COLOUR_MATCHES.get(value)  # type: ignore[call-overload]
    if match is None:
        raise InvalidInputError(
            f"options.color_match {value} is not NONE, CONTENT or STYLE",
            field="options.color_match",
        )
    return match


def output_is_raw(setup: pb.StylizeSetup) -> bool:
    fmt = setup.options.output_format
    if fmt == pb.OUTPUT_FORMAT_UNSPECIFIED:
        return setup.content.WhichOneof("kind") == "raw"
    if fmt not in (pb.OUTPUT_FORMAT_RAW, pb.OUTPUT_FORMAT_PNG):
        raise InvalidInputError(
            f"output format {fmt} is not RAW or PNG", field="options.output_format"
        )
    return fmt == pb.OUTPUT_FORMAT_RAW


def result_header(
    pixels: Pixels, raw: bool, total_bytes: int, vector: list[float], seconds: float
) -> pb.ResultHeader:
    return pb.ResultHeader(
        format=pb.OUTPUT_FORMAT_RAW if raw else pb.OUTPUT_FORMAT_PNG,
        image=pb.RawImage(
            width=pixels.width, height=pixels.height, format=PIXEL_FORMATS[pixels.mode]
        ),
        total_bytes=total_bytes,
        vector=pb.StyleVector(values=vector),
        seconds=seconds,
    )

"""Translation between stylize.v1 messages and the transport-neutral job dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import DecodeError

from stylize.engine import images
from stylize.engine.errors import InvalidInputError, StylizeError, TooManyStylesError
from stylize.engine.images import Depth, PixelMode
from stylize.engine.optimization.method import OptimizeOptions
from stylize.engine.optimization.optimizers import LossTerms
from stylize.engine.stroke_scale import DEFAULT_STROKE_SCALE
from stylize.engine.style_engine import DEFAULT_STYLE_SIZE, StylePreprocess, StylizeOptions
from stylize.jobs.job import (
    FAST,
    ColourMatch,
    EncodedSource,
    ImageSource,
    JobResult,
    NamedSource,
    RawSource,
    StyleSource,
    StylizeJob,
    VectorSource,
    WeightedStyle,
)
from stylize.jobs.methods.optimize import OPTIMIZE, OptimizeSettings
from stylize.jobs.progress import Progress, Stage
from stylize.jobs.style_gallery import StyleEntry
from stylize.v1 import stylize_pb2 as pb

M = TypeVar("M")

MAX_STYLE_SIZE = 1024

# GetInfo.features: optional capabilities a client may test for (see the .proto).
FEATURES = ("regions",)


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

# Raw pixel formats: (mode, depth) of each PixelFormat (see the .proto for byte order).
PIXEL_LAYOUTS: dict[pb.PixelFormat, tuple[PixelMode, Depth]] = {
    pb.PixelFormat.Value(f"PIXEL_FORMAT_{mode.name}{suffix}"): (mode, depth)
    for depth, suffix in ((Depth.U8, "8"), (Depth.U16, "16"), (Depth.F32, "F32"))
    for mode in PixelMode
}
PIXEL_FORMATS = {layout: fmt for fmt, layout in PIXEL_LAYOUTS.items()}
_FORMAT_LIST = ", ".join(
    pb.PixelFormat.Name(fmt).removeprefix("PIXEL_FORMAT_") for fmt in PIXEL_LAYOUTS
)


def pixel_layout(fmt: pb.PixelFormat, what: str) -> tuple[PixelMode, Depth]:
    layout = PIXEL_LAYOUTS.get(fmt)
    if layout is None:
        raise InvalidInputError(f"{what}: pixel format {fmt} is not one of {_FORMAT_LIST}")
    return layout


def raw_source(raw: pb.RawImage, what: str, data: bytes | bytearray | None = None) -> RawSource:
    mode, depth = pixel_layout(raw.format, what)
    return RawSource(
        data=raw.data if data is None else data,
        width=raw.width,
        height=raw.height,
        mode=mode,
        depth=depth,
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


def mask_source(message: pb.Mask, what: str, field: str) -> ImageSource:
    """A region or strength map (its pixels are checked by jobs/checks.py and the method)."""
    kind = message.WhichOneof("source")
    if kind == "encoded":
        return EncodedSource(message.encoded)
    if kind == "raw":
        try:
            return raw_source(message.raw, what)
        except StylizeError as error:
            error.field = error.field or field
            raise
    raise InvalidInputError(
        f"{what} is set but empty: give encoded bytes or raw GRAY8/GRAY16/GRAYF32 pixels",
        field=field,
    )


def _optional_mask(message: object, name: str, what: str, field: str) -> ImageSource | None:
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    return mask_source(getattr(message, name), what, field)


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
            region=_optional_mask(s, "region", f"style {i + 1}'s region", f"styles[{i}].region"),
            style_region=_optional_mask(
                s, "style_region", f"style {i + 1}'s style region", f"styles[{i}].style_region"
            ),
        )
        for i, s in enumerate(setup.styles)
    )
    options = setup.options
    output_is_raw(setup)  # refuse an unknown output format now, not after the job
    method, settings = _method(setup)
    return StylizeJob(
        content=content,
        styles=styles,
        strength=setup.strength if setup.HasField("strength") else 1.0,
        preprocess=preprocess(options.style_preprocess),
        options=StylizeOptions(
            max_side=options.max_side,
            preserve_colors=options.preserve_colors,
            stroke_scale=(
                options.stroke_scale if options.HasField("stroke_scale") else DEFAULT_STROKE_SCALE
            ),
        ),
        colour_match=colour_match(options.color_match),
        method=method,
        settings=settings,
        strength_map=_optional_mask(setup, "strength_map", "the strength map", "strength_map"),
    )


def _method(setup: pb.StylizeSetup) -> tuple[str, OptimizeSettings | None]:
    """The method's registry name and its settings (None for the fast method)."""
    if setup.method in (pb.METHOD_UNSPECIFIED, pb.METHOD_FAST):
        if setup.HasField("optimize"):
            raise InvalidInputError(
                "setup.optimize is set but the method is FAST; set method to METHOD_OPTIMIZE",
                field="optimize",
            )
        return FAST, None
    if setup.method != pb.METHOD_OPTIMIZE:
        raise InvalidInputError(f"method {setup.method} is not FAST or OPTIMIZE", field="method")
    message = setup.optimize
    return OPTIMIZE, OptimizeSettings(
        options=optimize_options(message),
        init_image=EncodedSource(message.init_image) if message.init_image else None,
        style_scale_set=message.HasField("style_scale"),
    )


_OPTIMIZERS = {
    pb.OptimizeOptions.OPTIMIZER_UNSPECIFIED: "lbfgs",
    pb.OptimizeOptions.OPTIMIZER_LBFGS: "lbfgs",
    pb.OptimizeOptions.OPTIMIZER_ADAM: "adam",
}
_INITS = {
    pb.OptimizeOptions.INIT_UNSPECIFIED: "content",
    pb.OptimizeOptions.INIT_CONTENT: "content",
    pb.OptimizeOptions.INIT_NOISE: "noise",
    pb.OptimizeOptions.INIT_IMAGE: "image",
}
_OPTIONAL_FLOATS = ("content_weight", "style_weight", "tv_weight", "style_scale", "learning_rate")


def optimize_options(message: pb.OptimizeOptions) -> OptimizeOptions:
    """The engine's options; a refusal names the field (``optimize.iterations``, ...)."""
    optimizer = _OPTIMIZERS.get(message.optimizer)  # type: ignore[call-overload]
    if optimizer is None:
        raise InvalidInputError(
            f"optimize.optimizer {message.optimizer} is not LBFGS or ADAM",
            field="optimize.optimizer",
        )
    init = _INITS.get(message.init)  # type: ignore[call-overload]
    if init is None:
        raise InvalidInputError(
            f"optimize.init {message.init} is not CONTENT, NOISE or IMAGE", field="optimize.init"
        )
    values: dict[str, object] = {
        name: getattr(message, name) for name in _OPTIONAL_FLOATS if message.HasField(name)
    }
    if message.iterations:
        values["iterations"] = message.iterations
    try:
        return OptimizeOptions(
            optimizer=optimizer,
            init=init,
            seed=message.seed,
            scales=tuple(message.scales),
            preview_every=message.preview_every,
            max_seconds=message.max_seconds,
            **values,  # type: ignore[arg-type]
        )
    except StylizeError as error:
        error.field = f"optimize.{error.field}" if error.field else "optimize"
        raise


_STAGES = {
    Stage.QUEUED: pb.Progress.STAGE_QUEUED,
    Stage.RECEIVING: pb.Progress.STAGE_RECEIVING,
    Stage.PREPARING: pb.Progress.STAGE_PREDICTING_STYLE,
    Stage.PAINTING: pb.Progress.STAGE_STYLIZING,
    Stage.FINISHING: pb.Progress.STAGE_ENCODING,
}


def loss_terms(losses: LossTerms | None) -> pb.LossTerms | None:
    if losses is None:
        return None
    return pb.LossTerms(
        content=losses.content, style=losses.style, tv=losses.tv, total=losses.total
    )


def progress_event(progress: Progress) -> pb.StylizeEvent:
    """The wire's Progress: painting in steps (an iterating method) is STAGE_OPTIMIZING."""
    return pb.StylizeEvent(progress=progress_message(progress))


def progress_message(progress: Progress) -> pb.Progress:
    """One Progress for Stylize and StylizeSequence (which adds the frame counts)."""
    step = progress.step
    stage = _STAGES[progress.stage]
    if progress.stage is Stage.PAINTING and step is not None:
        stage = pb.Progress.STAGE_OPTIMIZING
    message = pb.Progress(stage=stage, fraction=progress.fraction, message=progress.message)
    if progress.size is not None:
        message.width, message.height = progress.size
    if step is not None:
        message.iteration, message.iterations = step.done, step.total
        message.scale, message.scales = step.scale, step.scales
        message.loss.CopyFrom(loss_terms(step.losses))
        message.seconds_left = step.seconds_left
    if progress.frames is not None:
        frames = progress.frames
        message.frames_done, message.frames_total = frames.done, frames.total
        message.frames_per_second = frames.fps
        message.seconds_left = frames.seconds_left
    return message


def preview_event(progress: Progress, max_side: int) -> pb.StylizeEvent:
    """The progress's preview image as PNG, scaled to ``max_side`` if that is smaller."""
    pixels = progress.preview
    assert pixels is not None and progress.step is not None
    if max_side and max(pixels.width, pixels.height) > max_side:
        pixels = images.scaled(pixels, max_side)
    return pb.StylizeEvent(
        preview=pb.Preview(
            iteration=progress.step.done,
            width=pixels.width,
            height=pixels.height,
            png=images.encode_png(pixels),
            loss=loss_terms(progress.step.losses),
        )
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


def result_header(result: JobResult, raw: bool, total_bytes: int) -> pb.ResultHeader:
    pixels = result.pixels
    return pb.ResultHeader(
        format=pb.OUTPUT_FORMAT_RAW if raw else pb.OUTPUT_FORMAT_PNG,
        image=pb.RawImage(
            width=pixels.width,
            height=pixels.height,
            format=PIXEL_FORMATS[(pixels.mode, pixels.depth)],
        ),
        total_bytes=total_bytes,
        vector=pb.StyleVector(values=[] if result.vector is None else result.vector.tolist()),
        seconds=result.seconds,
        iterations=result.iterations,
        loss=loss_terms(result.losses),
        finished_early=result.finished_early,
    )


def named_style_info(entry: StyleEntry) -> pb.NamedStyleInfo:
    """One style of the gallery (ListStyles / AddStyle)."""
    info = pb.NamedStyleInfo(
        name=entry.name,
        origin=pb.NamedStyleInfo.ORIGIN_BUNDLED if entry.bundled else pb.NamedStyleInfo.ORIGIN_USER,
        file_bytes=entry.file_bytes,
        thumbnail_error=entry.error,
    )
    if entry.thumbnail is not None:
        small = entry.thumbnail
        info.width, info.height = small.image_width, small.image_height
        info.thumbnail = small.jpeg
        info.thumbnail_width, info.thumbnail_height = small.width, small.height
    return info

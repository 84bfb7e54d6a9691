from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGBA8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAY8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAYA8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB16: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGBA16: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAY16: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAYA16: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGBF32: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGBAF32: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAYF32: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAYAF32: _ClassVar[PixelFormat]

class OutputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTPUT_FORMAT_UNSPECIFIED: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_RAW: _ClassVar[OutputFormat]
    OUTPUT_FORMAT_PNG: _ClassVar[OutputFormat]

class ColorMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_MATCH_NONE: _ClassVar[ColorMatch]
    COLOR_MATCH_CONTENT: _ClassVar[ColorMatch]
    COLOR_MATCH_STYLE: _ClassVar[ColorMatch]

class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METHOD_UNSPECIFIED: _ClassVar[Method]
    METHOD_FAST: _ClassVar[Method]
    METHOD_OPTIMIZE: _ClassVar[Method]
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
PIXEL_FORMAT_RGB8: PixelFormat
PIXEL_FORMAT_RGBA8: PixelFormat
PIXEL_FORMAT_GRAY8: PixelFormat
PIXEL_FORMAT_GRAYA8: PixelFormat
PIXEL_FORMAT_RGB16: PixelFormat
PIXEL_FORMAT_RGBA16: PixelFormat
PIXEL_FORMAT_GRAY16: PixelFormat
PIXEL_FORMAT_GRAYA16: PixelFormat
PIXEL_FORMAT_RGBF32: PixelFormat
PIXEL_FORMAT_RGBAF32: PixelFormat
PIXEL_FORMAT_GRAYF32: PixelFormat
PIXEL_FORMAT_GRAYAF32: PixelFormat
OUTPUT_FORMAT_UNSPECIFIED: OutputFormat
OUTPUT_FORMAT_RAW: OutputFormat
OUTPUT_FORMAT_PNG: OutputFormat
COLOR_MATCH_NONE: ColorMatch
COLOR_MATCH_CONTENT: ColorMatch
COLOR_MATCH_STYLE: ColorMatch
METHOD_UNSPECIFIED: Method
METHOD_FAST: Method
METHOD_OPTIMIZE: Method

class RawImage(_message.Message):
    __slots__ = ("width", "height", "format", "data")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    format: PixelFormat
    data: bytes
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ContentHeader(_message.Message):
    __slots__ = ("encoded", "raw", "total_bytes")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    encoded: EncodedKind
    raw: RawImage
    total_bytes: int
    def __init__(self, encoded: _Optional[_Union[EncodedKind, _Mapping]] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ..., total_bytes: _Optional[int] = ...) -> None: ...

class EncodedKind(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StyleVector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Mask(_message.Message):
    __slots__ = ("encoded", "raw")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    raw: RawImage
    def __init__(self, encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ...) -> None: ...

class StyleSource(_message.Message):
    __slots__ = ("encoded", "raw", "vector", "named", "weight", "region", "style_region")
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    NAMED_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    STYLE_REGION_FIELD_NUMBER: _ClassVar[int]
    encoded: bytes
    raw: RawImage
    vector: StyleVector
    named: str
    weight: float
    region: Mask
    style_region: Mask
    def __init__(self, encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ..., vector: _Optional[_Union[StyleVector, _Mapping]] = ..., named: _Optional[str] = ..., weight: _Optional[float] = ..., region: _Optional[_Union[Mask, _Mapping]] = ..., style_region: _Optional[_Union[Mask, _Mapping]] = ...) -> None: ...

class StylePreprocess(_message.Message):
    __slots__ = ("size", "no_crop")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    NO_CROP_FIELD_NUMBER: _ClassVar[int]
    size: int
    no_crop: bool
    def __init__(self, size: _Optional[int] = ..., no_crop: _Optional[bool] = ...) -> None: ...

class StylizeOptions(_message.Message):
    __slots__ = ("style_preprocess", "output_format", "max_side", "preserve_colors", "color_match", "stroke_scale")
    STYLE_PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MAX_SIDE_FIELD_NUMBER: _ClassVar[int]
    PRESERVE_COLORS_FIELD_NUMBER: _ClassVar[int]
    COLOR_MATCH_FIELD_NUMBER: _ClassVar[int]
    STROKE_SCALE_FIELD_NUMBER: _ClassVar[int]
    style_preprocess: StylePreprocess
    output_format: OutputFormat
    max_side: int
    preserve_colors: bool
    color_match: ColorMatch
    stroke_scale: float
    def __init__(self, style_preprocess: _Optional[_Union[StylePreprocess, _Mapping]] = ..., output_format: _Optional[_Union[OutputFormat, str]] = ..., max_side: _Optional[int] = ..., preserve_colors: _Optional[bool] = ..., color_match: _Optional[_Union[ColorMatch, str]] = ..., stroke_scale: _Optional[float] = ...) -> None: ...

class OptimizeOptions(_message.Message):
    __slots__ = ("iterations", "optimizer", "content_weight", "style_weight", "tv_weight", "init", "seed", "scales", "style_scale", "preview_every", "max_seconds", "learning_rate", "init_image", "preview_max_side")
    class Optimizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OPTIMIZER_UNSPECIFIED: _ClassVar[OptimizeOptions.Optimizer]
        OPTIMIZER_LBFGS: _ClassVar[OptimizeOptions.Optimizer]
        OPTIMIZER_ADAM: _ClassVar[OptimizeOptions.Optimizer]
    OPTIMIZER_UNSPECIFIED: OptimizeOptions.Optimizer
    OPTIMIZER_LBFGS: OptimizeOptions.Optimizer
    OPTIMIZER_ADAM: OptimizeOptions.Optimizer
    class Init(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        INIT_UNSPECIFIED: _ClassVar[OptimizeOptions.Init]
        INIT_CONTENT: _ClassVar[OptimizeOptions.Init]
        INIT_NOISE: _ClassVar[OptimizeOptions.Init]
        INIT_IMAGE: _ClassVar[OptimizeOptions.Init]
    INIT_UNSPECIFIED: OptimizeOptions.Init
    INIT_CONTENT: OptimizeOptions.Init
    INIT_NOISE: OptimizeOptions.Init
    INIT_IMAGE: OptimizeOptions.Init
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STYLE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TV_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    INIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCALES_FIELD_NUMBER: _ClassVar[int]
    STYLE_SCALE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_EVERY_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    INIT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_MAX_SIDE_FIELD_NUMBER: _ClassVar[int]
    iterations: int
    optimizer: OptimizeOptions.Optimizer
    content_weight: float
    style_weight: float
    tv_weight: float
    init: OptimizeOptions.Init
    seed: int
    scales: _containers.RepeatedScalarFieldContainer[int]
    style_scale: float
    preview_every: int
    max_seconds: float
    learning_rate: float
    init_image: bytes
    preview_max_side: int
    def __init__(self, iterations: _Optional[int] = ..., optimizer: _Optional[_Union[OptimizeOptions.Optimizer, str]] = ..., content_weight: _Optional[float] = ..., style_weight: _Optional[float] = ..., tv_weight: _Optional[float] = ..., init: _Optional[_Union[OptimizeOptions.Init, str]] = ..., seed: _Optional[int] = ..., scales: _Optional[_Iterable[int]] = ..., style_scale: _Optional[float] = ..., preview_every: _Optional[int] = ..., max_seconds: _Optional[float] = ..., learning_rate: _Optional[float] = ..., init_image: _Optional[bytes] = ..., preview_max_side: _Optional[int] = ...) -> None: ...

class StylizeSetup(_message.Message):
    __slots__ = ("content", "styles", "strength", "options", "method", "optimize", "strength_map")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_MAP_FIELD_NUMBER: _ClassVar[int]
    content: ContentHeader
    styles: _containers.RepeatedCompositeFieldContainer[StyleSource]
    strength: float
    options: StylizeOptions
    method: Method
    optimize: OptimizeOptions
    strength_map: Mask
    def __init__(self, content: _Optional[_Union[ContentHeader, _Mapping]] = ..., styles: _Optional[_Iterable[_Union[StyleSource, _Mapping]]] = ..., strength: _Optional[float] = ..., options: _Optional[_Union[StylizeOptions, _Mapping]] = ..., method: _Optional[_Union[Method, str]] = ..., optimize: _Optional[_Union[OptimizeOptions, _Mapping]] = ..., strength_map: _Optional[_Union[Mask, _Mapping]] = ...) -> None: ...

class Finish(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("setup", "content_chunk", "finish")
    SETUP_FIELD_NUMBER: _ClassVar[int]
    CONTENT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    setup: StylizeSetup
    content_chunk: bytes
    finish: Finish
    def __init__(self, setup: _Optional[_Union[StylizeSetup, _Mapping]] = ..., content_chunk: _Optional[bytes] = ..., finish: _Optional[_Union[Finish, _Mapping]] = ...) -> None: ...

class LossTerms(_message.Message):
    __slots__ = ("content", "style", "tv", "total")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TV_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    content: float
    style: float
    tv: float
    total: float
    def __init__(self, content: _Optional[float] = ..., style: _Optional[float] = ..., tv: _Optional[float] = ..., total: _Optional[float] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "fraction", "message", "width", "height", "iteration", "iterations", "scale", "scales", "loss", "seconds_left", "frames_done", "frames_total", "frames_per_second")
    class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STAGE_UNSPECIFIED: _ClassVar[Progress.Stage]
        STAGE_QUEUED: _ClassVar[Progress.Stage]
        STAGE_RECEIVING: _ClassVar[Progress.Stage]
        STAGE_PREDICTING_STYLE: _ClassVar[Progress.Stage]
        STAGE_STYLIZING: _ClassVar[Progress.Stage]
        STAGE_ENCODING: _ClassVar[Progress.Stage]
        STAGE_OPTIMIZING: _ClassVar[Progress.Stage]
    STAGE_UNSPECIFIED: Progress.Stage
    STAGE_QUEUED: Progress.Stage
    STAGE_RECEIVING: Progress.Stage
    STAGE_PREDICTING_STYLE: Progress.Stage
    STAGE_STYLIZING: Progress.Stage
    STAGE_ENCODING: Progress.Stage
    STAGE_OPTIMIZING: Progress.Stage
    STAGE_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    SCALES_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    stage: Progress.Stage
    fraction: float
    message: str
    width: int
    height: int
    iteration: int
    iterations: int
    scale: int
    scales: int
    loss: LossTerms
    seconds_left: float
    frames_done: int
    frames_total: int
    frames_per_second: float
    def __init__(self, stage: _Optional[_Union[Progress.Stage, str]] = ..., fraction: _Optional[float] = ..., message: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., iteration: _Optional[int] = ..., iterations: _Optional[int] = ..., scale: _Optional[int] = ..., scales: _Optional[int] = ..., loss: _Optional[_Union[LossTerms, _Mapping]] = ..., seconds_left: _Optional[float] = ..., frames_done: _Optional[int] = ..., frames_total: _Optional[int] = ..., frames_per_second: _Optional[float] = ...) -> None: ...

class Preview(_message.Message):
    __slots__ = ("iteration", "width", "height", "png", "loss")
    ITERATION_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    iteration: int
    width: int
    height: int
    png: bytes
    loss: LossTerms
    def __init__(self, iteration: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., png: _Optional[bytes] = ..., loss: _Optional[_Union[LossTerms, _Mapping]] = ...) -> None: ...

class ResultHeader(_message.Message):
    __slots__ = ("format", "image", "total_bytes", "vector", "seconds", "iterations", "loss", "finished_early")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_EARLY_FIELD_NUMBER: _ClassVar[int]
    format: OutputFormat
    image: RawImage
    total_bytes: int
    vector: StyleVector
    seconds: float
    iterations: int
    loss: LossTerms
    finished_early: bool
    def __init__(self, format: _Optional[_Union[OutputFormat, str]] = ..., image: _Optional[_Union[RawImage, _Mapping]] = ..., total_bytes: _Optional[int] = ..., vector: _Optional[_Union[StyleVector, _Mapping]] = ..., seconds: _Optional[float] = ..., iterations: _Optional[int] = ..., loss: _Optional[_Union[LossTerms, _Mapping]] = ..., finished_early: _Optional[bool] = ...) -> None: ...

class StylizeEvent(_message.Message):
    __slots__ = ("progress", "result", "result_chunk", "preview")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULT_CHUNK_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: ResultHeader
    result_chunk: bytes
    preview: Preview
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[ResultHeader, _Mapping]] = ..., result_chunk: _Optional[bytes] = ..., preview: _Optional[_Union[Preview, _Mapping]] = ...) -> None: ...

class PredictStyleRequest(_message.Message):
    __slots__ = ("style", "preprocess")
    STYLE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_FIELD_NUMBER: _ClassVar[int]
    style: StyleSource
    preprocess: StylePreprocess
    def __init__(self, style: _Optional[_Union[StyleSource, _Mapping]] = ..., preprocess: _Optional[_Union[StylePreprocess, _Mapping]] = ...) -> None: ...

class PredictStyleResponse(_message.Message):
    __slots__ = ("vector",)
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    vector: StyleVector
    def __init__(self, vector: _Optional[_Union[StyleVector, _Mapping]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "source", "sha256", "license")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LICENSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    source: str
    sha256: str
    license: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., source: _Optional[str] = ..., sha256: _Optional[str] = ..., license: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_image_pixels", "max_image_side", "max_message_bytes", "chunk_bytes", "max_concurrent_jobs", "max_queued_jobs", "max_styles", "max_iterations", "max_concurrent_optimize_jobs", "memory_budget_bytes", "memory_budget_source")
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_SIDE_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_STYLES_FIELD_NUMBER: _ClassVar[int]
    MAX_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_OPTIMIZE_JOBS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BUDGET_SOURCE_FIELD_NUMBER: _ClassVar[int]
    max_image_pixels: int
    max_image_side: int
    max_message_bytes: int
    chunk_bytes: int
    max_concurrent_jobs: int
    max_queued_jobs: int
    max_styles: int
    max_iterations: int
    max_concurrent_optimize_jobs: int
    memory_budget_bytes: int
    memory_budget_source: str
    def __init__(self, max_image_pixels: _Optional[int] = ..., max_image_side: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., chunk_bytes: _Optional[int] = ..., max_concurrent_jobs: _Optional[int] = ..., max_queued_jobs: _Optional[int] = ..., max_styles: _Optional[int] = ..., max_iterations: _Optional[int] = ..., max_concurrent_optimize_jobs: _Optional[int] = ..., memory_budget_bytes: _Optional[int] = ..., memory_budget_source: _Optional[str] = ...) -> None: ...

class StyleCacheStats(_message.Message):
    __slots__ = ("entries", "hits", "misses")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    entries: int
    hits: int
    misses: int
    def __init__(self, entries: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ...) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("version", "models", "device", "limits", "named_styles", "style_vector_size", "style_cache", "accepted_formats", "backend", "backend_reason", "methods", "features")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    NAMED_STYLES_FIELD_NUMBER: _ClassVar[int]
    STYLE_VECTOR_SIZE_FIELD_NUMBER: _ClassVar[int]
    STYLE_CACHE_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FORMATS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BACKEND_REASON_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    version: str
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    device: str
    limits: Limits
    named_styles: _containers.RepeatedScalarFieldContainer[str]
    style_vector_size: int
    style_cache: StyleCacheStats
    accepted_formats: _containers.RepeatedScalarFieldContainer[str]
    backend: str
    backend_reason: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., device: _Optional[str] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., named_styles: _Optional[_Iterable[str]] = ..., style_vector_size: _Optional[int] = ..., style_cache: _Optional[_Union[StyleCacheStats, _Mapping]] = ..., accepted_formats: _Optional[_Iterable[str]] = ..., backend: _Optional[str] = ..., backend_reason: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., features: _Optional[_Iterable[str]] = ...) -> None: ...

class ListStylesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "thumbnail_side")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_SIDE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    thumbnail_side: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., thumbnail_side: _Optional[int] = ...) -> None: ...

class NamedStyleInfo(_message.Message):
    __slots__ = ("name", "origin", "width", "height", "file_bytes", "thumbnail", "thumbnail_width", "thumbnail_height", "thumbnail_error")
    class Origin(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ORIGIN_UNSPECIFIED: _ClassVar[NamedStyleInfo.Origin]
        ORIGIN_BUNDLED: _ClassVar[NamedStyleInfo.Origin]
        ORIGIN_USER: _ClassVar[NamedStyleInfo.Origin]
    ORIGIN_UNSPECIFIED: NamedStyleInfo.Origin
    ORIGIN_BUNDLED: NamedStyleInfo.Origin
    ORIGIN_USER: NamedStyleInfo.Origin
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    origin: NamedStyleInfo.Origin
    width: int
    height: int
    file_bytes: int
    thumbnail: bytes
    thumbnail_width: int
    thumbnail_height: int
    thumbnail_error: str
    def __init__(self, name: _Optional[str] = ..., origin: _Optional[_Union[NamedStyleInfo.Origin, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., file_bytes: _Optional[int] = ..., thumbnail: _Optional[bytes] = ..., thumbnail_width: _Optional[int] = ..., thumbnail_height: _Optional[int] = ..., thumbnail_error: _Optional[str] = ...) -> None: ...

class ListStylesResponse(_message.Message):
    __slots__ = ("styles", "next_page_token", "total")
    STYLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    styles: _containers.RepeatedCompositeFieldContainer[NamedStyleInfo]
    next_page_token: str
    total: int
    def __init__(self, styles: _Optional[_Iterable[_Union[NamedStyleInfo, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...

class AddStyleRequest(_message.Message):
    __slots__ = ("name", "image")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    image: bytes
    def __init__(self, name: _Optional[str] = ..., image: _Optional[bytes] = ...) -> None: ...

class AddStyleResponse(_message.Message):
    __slots__ = ("style",)
    STYLE_FIELD_NUMBER: _ClassVar[int]
    style: NamedStyleInfo
    def __init__(self, style: _Optional[_Union[NamedStyleInfo, _Mapping]] = ...) -> None: ...

class Consistency(_message.Message):
    __slots__ = ("motion", "colour", "scene_cut")
    MOTION_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    SCENE_CUT_FIELD_NUMBER: _ClassVar[int]
    motion: float
    colour: float
    scene_cut: float
    def __init__(self, motion: _Optional[float] = ..., colour: _Optional[float] = ..., scene_cut: _Optional[float] = ...) -> None: ...

class StylizeSequenceSetup(_message.Message):
    __slots__ = ("stylize", "consistency", "total_frames")
    STYLIZE_FIELD_NUMBER: _ClassVar[int]
    CONSISTENCY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FRAMES_FIELD_NUMBER: _ClassVar[int]
    stylize: StylizeSetup
    consistency: Consistency
    total_frames: int
    def __init__(self, stylize: _Optional[_Union[StylizeSetup, _Mapping]] = ..., consistency: _Optional[_Union[Consistency, _Mapping]] = ..., total_frames: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("index", "raw", "encoded", "scene_cut", "reliable", "seconds")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    SCENE_CUT_FIELD_NUMBER: _ClassVar[int]
    RELIABLE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    index: int
    raw: RawImage
    encoded: bytes
    scene_cut: bool
    reliable: float
    seconds: float
    def __init__(self, index: _Optional[int] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ..., encoded: _Optional[bytes] = ..., scene_cut: _Optional[bool] = ..., reliable: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class StylizeSequenceRequest(_message.Message):
    __slots__ = ("setup", "frame")
    SETUP_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    setup: StylizeSequenceSetup
    frame: Frame
    def __init__(self, setup: _Optional[_Union[StylizeSequenceSetup, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class StylizeSequenceEvent(_message.Message):
    __slots__ = ("progress", "frame")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    frame: Frame
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

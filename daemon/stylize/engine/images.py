"""Decoding and validation of content and style images, independent of any transport.

Every image enters the engine as :class:`Pixels`: row-major, one of four modes
(RGB, RGBA, GRAY, GRAYA) at one of three depths (:class:`Depth`: 8-bit, 16-bit,
32-bit float), kept as given so the result can come back at the content's
precision. Encoded files are decoded with Pillow under explicit limits (the
declared size is checked before any pixel is decoded, so decompression bombs cost
nothing), EXIF orientation is honoured, and other modes are converted as follows
(documented in README.md):

===============  ==========================================================
source mode      becomes
===============  ==========================================================
RGB, RGBA, L, LA  kept
P / PA (palette)  RGBA when the palette has transparency, else RGB
1 (bilevel)       GRAY
CMYK              RGB (Pillow's naive conversion; ICC profiles not applied)
YCbCr, LAB, HSV   RGB
16-bit PNG/TIFF   kept at 16 bits (RGB16, RGBA16, GRAY16, GRAYA16)
float TIFF        kept as 32-bit float (RGBF32, ...); NaN/Inf refused
===============  ==========================================================

Pillow identifies every file (and only ACCEPTED_FORMATS are opened), but it
decodes 16-bit colour PNG/TIFF to 8 bits, so files Pillow has identified as 16-bit
or float PNG/TIFF are decoded by OpenCV's libpng/libtiff instead (``_decode_deep``).
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from stylize.engine.errors import InvalidInputError, LimitExceededError, UnsupportedFormatError

MIN_SIDE = 16  # the network's 9x9 reflect padding and two stride-2 steps need room

# The only file formats decoded (Pillow format names; README "Input images"). Pillow
# knows many more, and some hand the bytes to external programs (EPS runs
# Ghostscript): untrusted uploads must never reach those.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")

# Pillow's own bomb guard is a fixed pixel count; ImageLimits.check applies the
# daemon's configured limits to the declared size instead, before decoding.
Image.MAX_IMAGE_PIXELS = None


class Depth(enum.Enum):
    """Sample type: 8-bit, 16-bit (0..65535) or 32-bit float (0..1 nominal, HDR allowed)."""

    U8 = "uint8"
    U16 = "uint16"
    F32 = "float32"

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def bytes(self) -> int:
        return self.dtype.itemsize

    @property
    def deep(self) -> bool:
        """More than 8 bits: the network is fed and read in float, without an 8-bit step."""
        return self is not Depth.U8

    @classmethod
    def of(cls, array: np.ndarray) -> Depth:
        return cls(array.dtype.name)


_SCALE = {Depth.U8: 255.0, Depth.U16: 65535.0, Depth.F32: 1.0}


def to_unit(array: np.ndarray) -> np.ndarray:
    """Samples of any depth as float32, 0..1 for black..white (floats as they are)."""
    depth = Depth.of(array)
    if depth is Depth.F32:
        return array
    return np.multiply(array, np.float32(1.0 / _SCALE[depth]), dtype=np.float32)  # one copy


def from_unit(values: np.ndarray, depth: Depth) -> np.ndarray:
    """float32 0..1 samples -> ``depth`` (integers rounded and clipped; floats kept)."""
    if depth is Depth.F32:
        return values.astype(np.float32, copy=False)
    scaled = np.clip(values, 0.0, 1.0)  # one float copy, scaled and rounded in place
    scaled *= np.float32(_SCALE[depth])
    return np.rint(scaled, out=scaled).astype(depth.dtype)


class PixelMode(enum.Enum):
    RGB = 3
    RGBA = 4
    GRAY = 1
    GRAYA = 2

    @property
    def channels(self) -> int:
        return self.value

    @property
    def has_alpha(self) -> bool:
        return self in (PixelMode.RGBA, PixelMode.GRAYA)

    @property
    def is_gray(self) -> bool:
        return self in (PixelMode.GRAY, PixelMode.GRAYA)


_PIL_MODES = {
    PixelMode.RGB: "RGB",
    PixelMode.RGBA: "RGBA",
    PixelMode.GRAY: "L",
    PixelMode.GRAYA: "LA",
}
_FROM_PIL = {pil: mode for mode, pil in _PIL_MODES.items()}


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = 8192 * 8192  # 67 MP; the memory budget refuses what RAM cannot hold
    max_side: int = 16_384

    def check(self, width: int, height: int, what: str) -> None:
        if width < MIN_SIDE or height < MIN_SIDE:
            raise InvalidInputError(
                f"{what} is {width}x{height}; both sides must be at least {MIN_SIDE} pixels"
            )
        if width > self.max_side or height > self.max_side:
            raise LimitExceededError(
                f"{what} is {width}x{height}; this daemon accepts at most {self.max_side} "
                f"pixels per side (start it with a larger --max-side to allow more)"
            )
        if width * height > self.max_pixels:
            raise LimitExceededError(
                f"{what} is {width}x{height} = {width * height:,} pixels; this daemon accepts at "
                f"most {self.max_pixels:,} (scale the image, or start the daemon with a "
                "larger --max-pixels)"
            )


BAND_PIXELS = 1 << 20  # pixels per band of rows in the banded conversions


def row_bands(width: int, height: int, pixels: int = BAND_PIXELS) -> list[tuple[int, int]]:
    """(top, bottom) rows of bands of about ``pixels`` pixels covering the image."""
    rows = max(1, pixels // max(1, width))
    return [(top, min(top + rows, height)) for top in range(0, height, rows)]


@dataclass(frozen=True)
class Pixels:
    """An image: ``array`` is [height, width, channels] of uint8, uint16 or float32."""

    array: np.ndarray
    mode: PixelMode

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    @property
    def depth(self) -> Depth:
        return Depth.of(self.array)

    def rgb(self) -> np.ndarray:
        """The colour channels as [H, W, 3] of the image's dtype (gray replicated)."""
        colour = self.array[..., :1] if self.mode.is_gray else self.array[..., :3]
        return np.repeat(colour, 3, axis=2) if self.mode.is_gray else colour

    def alpha(self) -> np.ndarray | None:
        return self.array[..., -1:] if self.mode.has_alpha else None

    def to_8bit(self) -> Pixels:
        """The same image at 8 bits (floats clipped to 0..1), for 8-bit-only consumers.

        Converted in bands of rows (BAND_PIXELS), so the float32 copies on the way take a
        band, not the whole image (an 8192² 16-bit RGBA image once took 2 GiB more here).
        """
        if self.depth is Depth.U8:
            return self
        out = np.empty(self.array.shape, np.uint8)
        for top, bottom in row_bands(self.width, self.height):
            out[top:bottom] = from_unit(to_unit(self.array[top:bottom]), Depth.U8)
        return Pixels(out, self.mode)

    def to_pil(self) -> Image.Image:
        """An 8-bit Pillow image (deep images are reduced to 8 bits first)."""
        array = self.to_8bit().array
        array = array[..., 0] if self.mode is PixelMode.GRAY else array
        return Image.fromarray(np.ascontiguousarray(array), _PIL_MODES[self.mode])


def raw_bytes(width: int, height: int, mode: PixelMode, depth: Depth) -> int:
    """Bytes of a raw buffer of that size and layout."""
    return width * height * mode.channels * depth.bytes


def from_raw(
    data: bytes | bytearray,
    width: int,
    height: int,
    mode: PixelMode,
    limits: ImageLimits,
    what: str,
    depth: Depth = Depth.U8,
) -> Pixels:
    """Wrap raw row-major pixels (little-endian samples), checking length and values."""
    expected = raw_bytes(width, height, mode, depth)
    if len(data) != expected:
        bits = "32F" if depth is Depth.F32 else str(8 * depth.bytes)
        raise InvalidInputError(
            f"{what}: raw {mode.name} {bits}-bit buffer has {len(data):,} bytes but "
            f"{width}x{height}x{mode.channels}x{depth.bytes} needs {expected:,}"
        )
    limits.check(width, height, what)
    little = np.frombuffer(data, depth.dtype.newbyteorder("<"))
    array = little.astype(depth.dtype, copy=False).reshape(height, width, mode.channels)
    check_finite(array, what)
    return Pixels(array=array, mode=mode)


def check_finite(array: np.ndarray, what: str) -> None:
    """Refuse float pixels that are NaN or infinite: no value for them can be guessed."""
    if array.dtype.kind != "f":
        return
    bad = ~np.isfinite(array)
    if bad.any():
        row, column, channel = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"{what} has {int(bad.sum()):,} NaN or infinite float samples (the first at x="
            f"{column}, y={row}, channel {channel}); replace them with finite values"
        )


def _open(data: bytes | bytearray, what: str) -> Image.Image:
    """Open (not decode) an image in one of ACCEPTED_FORMATS."""
    if not data:
        raise InvalidInputError(f"{what} is empty (0 bytes)")
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"{what} is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(f"{what} is corrupt or truncated: {error}") from None
    if image.format not in ACCEPTED_FORMATS:  # belt and braces: never decode others
        raise UnsupportedFormatError(f"{what} is a {image.format} file, which is not accepted")
    return image


def declared_size(data: bytes | bytearray, what: str = "image") -> tuple[int, int]:
    """(width, height) from the file's header, without decoding any pixels."""
    image = _open(data, what)
    return image.width, image.height


def file_format(data: bytes | bytearray, what: str = "image") -> str:
    """The Pillow name of the file's format (one of ACCEPTED_FORMATS), from its header."""
    return str(_open(data, what).format)


def declared_depth(data: bytes | bytearray, what: str = "image") -> Depth:
    """The depth the file will decode to (float only for float grey), from its header."""
    image = _open(data, what)
    if not _is_deep(image, data):
        return Depth.U8
    return Depth.F32 if image.mode == "F" else Depth.U16


def decode_bytes(width: int, height: int, channels: int = 4, depth: Depth = Depth.U8) -> int:
    """Peak memory :func:`decode` takes for a ``width`` x ``height`` file decoding to
    ``channels`` x ``depth`` (4: the most, when the file's channels are not known yet).

    The one rule for every decoded image (content, styles, init image, thumbnails; the
    encoded bytes are the caller's). 8-bit files: Pillow's buffer (4 bytes a pixel
    whatever the mode), a conversion (palette, EXIF orientation) and the numpy copy;
    16-bit and float files: OpenCV's array and its channel-order or orientation copy, or
    the decoded array and the 8-bit RGB paper a style image is laid on (pixel_ops.on_white,
    3 bytes a pixel), whichever is more, plus 5 bytes a pixel for a band's working copies
    and the allocator (a 16-bit grey style measured 7.4-8.8 bytes a pixel in all from run
    to run).
    """
    pixels = width * height
    if depth is Depth.U8:
        return pixels * (4 + 4 + channels * 2)
    decoded = channels * depth.bytes
    return pixels * (max(2 * decoded, decoded + 3) + 5)


def result_bytes(width: int, height: int, channels: int = 4, depth: Depth = Depth.U8) -> int:
    """What a job holds at the content's full size beside its method's own reservations,
    from decoding the content to sending the result: the most of

    - the decode (:func:`decode_bytes`);
    - the content and the result, with (16-bit and float content) the float32 RGB copies
      made at full size: the colours fed to the network or upsampled, the stylized image,
      the clipped copy, and the HDR remainder of float content; and the colours at the
      content's depth before its alpha joins them (8-bit: a copy of the colours and the
      stylized image);
    - the result's encoding: a channel-order copy (16-bit for float), and the file, up to
      its raw size, twice as it becomes bytes.

    Measured against a fresh process's peak in tests/test_job_memory.py (a 16-bit RGBA
    2048x8192 content once peaked 52 bytes a pixel against 16 reserved here).
    """
    sample = channels * depth.bytes
    copies = {Depth.U8: 0, Depth.U16: 3, Depth.F32: 4}[depth]  # float32 RGB, 12 bytes a pixel
    held = 2 * sample + (copies * 12 + 3 * depth.bytes if depth.deep else 6)
    encode = sample + 2 * channels + 2 * max(sample, 2 * channels)
    per_pixel = max(decode_bytes(1, 1, channels, depth), held, encode)
    return width * height * per_pixel + (1 << 16)


def declared_result_bytes(data: bytes | bytearray, what: str = "image") -> int:
    """:func:`result_bytes` of an encoded content file, from its header."""
    width, height = declared_size(data, what)
    return result_bytes(width, height, declared_channels(data, what), declared_depth(data, what))


def declared_decode_bytes(data: bytes | bytearray, what: str = "image") -> int:
    """:func:`decode_bytes` of an encoded file, from its header (size, channels, depth):
    what to reserve before :func:`decode` of any role's image."""
    width, height = declared_size(data, what)
    return decode_bytes(width, height, declared_channels(data, what), declared_depth(data, what))


def declared_channels(data: bytes | bytearray, what: str = "image") -> int:
    """The channels the file will decode to at most, from its header (palette: 4)."""
    image = _open(data, what)
    if image.mode in ("P", "PA"):
        return 4
    bands = len(image.getbands())
    return 4 if bands == 2 and _is_deep(image, data) else bands  # OpenCV: grey+alpha as 4


def decode(data: bytes | bytearray, limits: ImageLimits, what: str) -> Pixels:
    """Decode an encoded image file in one of ACCEPTED_FORMATS into :class:`Pixels`."""
    image = _open(data, what)
    limits.check(image.width, image.height, what)  # before a single pixel is decoded
    if _is_deep(image, data):
        return _decode_deep(image, data, what)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(f"{what} is corrupt or truncated: {error}") from None
    return _to_pixels(image, what)


_PNG_BIT_DEPTH = 24  # offset of the bit depth in a PNG's IHDR (after signature, length, type)
_TIFF_BITS, _TIFF_SAMPLE_FORMAT = 258, 339
_GRAY_PIL_MODES = ("L", "LA", "La", "I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _is_deep(image: Image.Image, data: bytes | bytearray) -> bool:
    """Whether a file Pillow opened holds more than 8 bits per sample."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return True
    if image.format == "PNG":
        return len(data) > _PNG_BIT_DEPTH and data[_PNG_BIT_DEPTH] == 16
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        bits = tags.get(_TIFF_BITS, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return max(bits) > 8 or tags.get(_TIFF_SAMPLE_FORMAT) == 3
    return False


# OpenCV's channel order is BGR(A); the colour conversion that undoes it, by channel count.
_FROM_BGR = {3: "COLOR_BGR2RGB", 4: "COLOR_BGRA2RGBA"}
# EXIF orientation -> numpy steps (rotations counter-clockwise), as ImageOps.exif_transpose.
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 1)[::-1],
    8: lambda a: np.rot90(a, 1),
}


def _decode_deep(image: Image.Image, data: bytes | bytearray, what: str) -> Pixels:
    """A 16-bit or float PNG/TIFF (already identified by Pillow), decoded by OpenCV."""
    import cv2  # only deep files need it

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise InvalidInputError(f"{what} is corrupt or truncated (its pixels cannot be decoded)")
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[2] in _FROM_BGR:
        array = cv2.cvtColor(array, getattr(cv2, _FROM_BGR[array.shape[2]]))
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        raise InvalidInputError(
            f"{what} has {array.dtype} pixels; convert it to 8 or 16 bit, or 32-bit float"
        )
    gray = image.mode in _GRAY_PIL_MODES
    if gray and array.shape[2] >= 3:  # the decoder expanded grey to colour
        array = array[..., [0, 3]] if array.shape[2] == 4 else array[..., :1]
    orient = _ORIENT.get(int(image.getexif().get(0x0112, 1)))
    array = np.ascontiguousarray(orient(array) if orient else array)
    check_finite(array, what)
    mode = {1: PixelMode.GRAY, 2: PixelMode.GRAYA, 3: PixelMode.RGB, 4: PixelMode.RGBA}
    return Pixels(array=array, mode=mode[array.shape[2]])


def _to_pixels(image: Image.Image, what: str) -> Pixels:
    mode = image.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "La":
        image = image.convert("LA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in _FROM_PIL:
        image = image.convert("RGB")
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return Pixels(array=array, mode=_FROM_PIL[image.mode])


def encode_png(pixels: Pixels) -> bytes:
    """PNG bytes: 8-bit for 8-bit images, 16-bit for deeper ones (floats clipped to 0..1)."""
    if not pixels.depth.deep:
        stream = io.BytesIO()
        pixels.to_pil().save(stream, format="PNG", compress_level=3)
        return stream.getvalue()
    return encode_16_bit(pixels, ".png")


def encode_16_bit(pixels: Pixels, extension: str) -> bytes:
    """A 16-bit ``extension`` (".png", ".tiff") file by OpenCV; floats clipped to 0..1.

    GRAYA is written as RGBA with the grey repeated: OpenCV writes 1, 3 or 4 channels.
    16-bit pixels are written as they are, others converted in bands of rows (no
    whole-image float copies; :func:`result_bytes` counts what encoding takes).
    """
    import cv2

    array = pixels.array
    if pixels.depth is not Depth.U16:
        array = np.empty(pixels.array.shape, np.uint16)
        for top, bottom in row_bands(pixels.width, pixels.height):
            array[top:bottom] = from_unit(to_unit(pixels.array[top:bottom]), Depth.U16)
    if pixels.mode is PixelMode.GRAYA:
        array = array[..., [0, 0, 0, 1]]
    if array.shape[2] in (3, 4):
        to_bgr = cv2.COLOR_RGB2BGR if array.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        array = cv2.cvtColor(array, to_bgr)
    done, encoded = cv2.imencode(extension, array, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not done:  # pragma: no cover - OpenCV writes any uint16 array of 1, 3 or 4 channels
        raise RuntimeError(f"OpenCV could not encode the result as {extension}")
    return encoded.tobytes()


def scaled(pixels: Pixels, max_side: int) -> Pixels:
    """``pixels`` resized so the long side is ``max_side`` (aspect kept), same mode."""
    factor = max_side / max(pixels.width, pixels.height)
    size = (max(1, round(pixels.width * factor)), max(1, round(pixels.height * factor)))
    return _to_pixels(pixels.to_pil().resize(size, Image.Resampling.LANCZOS), "preview")

"""Decoding and validation of content and style images, independent of any transport.

Every image enters the engine as :class:`Pixels`: 8-bit, row-major, one of four
modes (RGB, RGBA, GRAY, GRAYA). Encoded files are decoded with Pillow under
explicit limits (the declared size is checked before any pixel is decoded, so
decompression bombs cost nothing), EXIF orientation is honoured, and other
modes are converted as follows (documented in README.md):

===============  ==========================================================
source mode      becomes
===============  ==========================================================
RGB, RGBA, L, LA  kept
P / PA (palette)  RGBA when the palette has transparency, else RGB
1 (bilevel)       GRAY
CMYK              RGB (Pillow's naive conversion; ICC profiles not applied)
YCbCr, LAB, HSV   RGB
I;16*, I (16-bit) GRAY, scaled from 0..65535 to 0..255
F (float)         refused: HDR/float data has no 8-bit meaning we can guess
===============  ==========================================================
"""

from __future__ import annotations

import enum
import io
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


@dataclass(frozen=True)
class Pixels:
    """An 8-bit image: ``array`` is uint8 [height, width, channels]."""

    array: np.ndarray
    mode: PixelMode

    @property
    def width(self) -> int:
        return int(self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.array.shape[0])

    def rgb(self) -> np.ndarray:
        """The colour channels as uint8 [H, W, 3] (gray replicated)."""
        colour = self.array[..., :1] if self.mode.is_gray else self.array[..., :3]
        return np.repeat(colour, 3, axis=2) if self.mode.is_gray else colour

    def alpha(self) -> np.ndarray | None:
        return self.array[..., -1:] if self.mode.has_alpha else None

    def to_pil(self) -> Image.Image:
        array = self.array[..., 0] if self.mode is PixelMode.GRAY else self.array
        return Image.fromarray(np.ascontiguousarray(array), _PIL_MODES[self.mode])


def from_raw(
    data: bytes | bytearray,
    width: int,
    height: int,
    mode: PixelMode,
    limits: ImageLimits,
    what: str,
) -> Pixels:
    """Wrap raw row-major pixels, checking the buffer length against the dimensions."""
    expected = width * height * mode.channels
    if len(data) != expected:
        raise InvalidInputError(
            f"{what}: raw {mode.name} buffer has {len(data):,} bytes but {width}x{height}x"
            f"{mode.channels} needs {expected:,}"
        )
    limits.check(width, height, what)
    array = np.frombuffer(data, np.uint8).reshape(height, width, mode.channels)
    return Pixels(array=array, mode=mode)


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


def decode(data: bytes | bytearray, limits: ImageLimits, what: str) -> Pixels:
    """Decode an encoded image file in one of ACCEPTED_FORMATS into :class:`Pixels`."""
    image = _open(data, what)
    limits.check(image.width, image.height, what)  # before a single pixel is decoded
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidInputError(f"{what} is corrupt or truncated: {error}") from None
    return _to_pixels(image, what)


def _to_pixels(image: Image.Image, what: str) -> Pixels:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.int64)
        if values.min(initial=0) < 0 or values.max(initial=0) > 65535:
            raise InvalidInputError(f"{what} has 32-bit integer pixels; convert it to 8 or 16 bit")
        gray = ((values + 128) // 257).astype(np.uint8)
        return Pixels(array=gray[..., None], mode=PixelMode.GRAY)
    if mode == "F":
        raise InvalidInputError(f"{what} has floating-point pixels; convert it to 8 or 16 bit")
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
    stream = io.BytesIO()
    pixels.to_pil().save(stream, format="PNG", compress_level=3)
    return stream.getvalue()


def scaled(pixels: Pixels, max_side: int) -> Pixels:
    """``pixels`` resized so the long side is ``max_side`` (aspect kept), same mode."""
    factor = max_side / max(pixels.width, pixels.height)
    size = (max(1, round(pixels.width * factor)), max(1, round(pixels.height * factor)))
    return _to_pixels(pixels.to_pil().resize(size, Image.Resampling.LANCZOS), "preview")

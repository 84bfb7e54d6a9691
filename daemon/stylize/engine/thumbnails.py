"""Small previews of style images, for pickers (the GIMP dialog's gallery).

A thumbnail is a JPEG whose long side is at most ``side`` pixels, decoded with the
same allowlist, limits and mode conversions as every other image
(:func:`stylize.engine.images.decode`); transparent areas are shown on white, as the
style predictor sees them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from stylize.engine import images, pixel_ops

MIN_SIDE = 16
MAX_SIDE = 128
_QUALITY = 85  # a 128 px painting is 4-8 kB


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    width: int
    height: int
    image_width: int  # the source image's size, after its EXIF orientation
    image_height: int


def decoded_bytes(width: int, height: int) -> int:
    """Memory a thumbnail of a ``width`` x ``height`` image needs while it is made."""
    return 3 * 4 * width * height  # decoded pixels, their RGBA copy, the white composite


def make(data: bytes | bytearray, side: int, limits: images.ImageLimits, what: str) -> Thumbnail:
    """The thumbnail of an encoded image; raises the decoder's InvalidInputError."""
    pixels = images.decode(data, limits, what)
    small = pixel_ops.on_white(pixels)
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    stream = io.BytesIO()
    small.save(stream, format="JPEG", quality=_QUALITY)
    return Thumbnail(stream.getvalue(), small.width, small.height, pixels.width, pixels.height)

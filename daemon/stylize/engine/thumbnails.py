"""Small previews of style images, for pickers (the GIMP dialog's gallery).

A thumbnail is a JPEG whose long side is at most ``side`` pixels, decoded with the
same allowlist, limits and mode conversions as every other image
(:func:`stylize.engine.images.decode`); transparent areas are shown on white, as the
style predictor sees them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
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


def decoded_bytes(
    width: int, height: int, channels: int = 4, depth: images.Depth = images.Depth.U8
) -> int:
    """Memory a thumbnail of a ``width`` x ``height`` image needs while it is made: the
    decode (images.decode_bytes) and, for an image that is not reduced first, its 8-bit
    RGBA copies (four: the conversion, the white paper, the composite, its RGB)."""
    decode = images.decode_bytes(width, height, channels, depth) + _FIXED_BYTES
    factor = max(width, height) // (_REDUCE_TO * MAX_SIDE)
    if factor >= 2:  # one band's float sums and the reduced image
        return decode + (factor * width + 4 * (_REDUCE_TO * MAX_SIDE) ** 2) * channels * 8
    return decode + width * height * (4 * 4 + (3 * 4 if depth is not images.Depth.U8 else 0))


_REDUCE_TO = 2  # box-filter big images to about twice the thumbnail first (in bands)
_FIXED_BYTES = 8 << 20  # decoders' and Pillow's own buffers (measured 3-5 MiB)


def _reduced(pixels: images.Pixels, side: int) -> images.Pixels:
    """``pixels`` box-filtered by an integer factor to about _REDUCE_TO x ``side``, in
    bands of rows so no full-size float copy is made (a 16-bit 8192 x 8192 RGBA image
    took 2.95 GB to thumbnail through full-size float and 8-bit copies, issue 18)."""
    array = pixels.array
    height, width, channels = array.shape
    factor = max(width, height) // (_REDUCE_TO * side)
    if factor < 2:
        return pixels
    fx, fy = min(factor, width), min(factor, height)
    out_w, out_h = width // fx, height // fy
    out = np.empty((out_h, out_w, channels), np.float32)
    for row in range(out_h):
        band = array[row * fy : (row + 1) * fy, : out_w * fx]
        out[row] = band.reshape(fy, out_w, fx, channels).mean(axis=(0, 2), dtype=np.float32)
    if array.dtype != np.float32:
        out = np.rint(out).astype(array.dtype)
    return images.Pixels(out, pixels.mode)


def make(data: bytes | bytearray, side: int, limits: images.ImageLimits, what: str) -> Thumbnail:
    """The thumbnail of an encoded image; raises the decoder's InvalidInputError."""
    pixels = images.decode(data, limits, what)
    small = pixel_ops.on_white(_reduced(pixels, side))
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    stream = io.BytesIO()
    small.save(stream, format="JPEG", quality=_QUALITY)
    return Thumbnail(stream.getvalue(), small.width, small.height, pixels.width, pixels.height)

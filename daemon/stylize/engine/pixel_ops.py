"""Pixel helpers both methods share: paper under transparency, resizing, colour keeping, modes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stylize.engine.images import Depth, Pixels, from_unit, row_bands, to_unit

# ITU-R BT.601 luma, as Pillow's "L" and "YCbCr" conversions use.
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def on_white(pixels: Pixels) -> Image.Image:
    """An 8-bit RGB Pillow image; transparent areas read as white paper.

    Deep or transparent images are converted in bands of rows (images.row_bands): the
    8-bit copy, the paper and the composite take a band each, not the whole image (an
    8192² 16-bit RGBA style image once peaked 2.9 GiB above its 1.1 GiB reservation).
    """
    if pixels.depth is Depth.U8 and not pixels.mode.has_alpha:
        return pixels.to_pil().convert("RGB")
    out = Image.new("RGB", (pixels.width, pixels.height))
    for top, bottom in row_bands(pixels.width, pixels.height):
        out.paste(_band_on_white(Pixels(pixels.array[top:bottom], pixels.mode)), (0, top))
    return out


def _band_on_white(pixels: Pixels) -> Image.Image:
    image = pixels.to_pil()
    if pixels.mode.has_alpha:
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    return image.convert("RGB")


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos resize at any depth (float channels one by one in Pillow's "F" mode).

    Float results are clipped to 0..1, as the 8-bit ones are to 0..255 (Lanczos overshoots).
    """
    if rgb.dtype == np.uint8:
        return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))
    unit = to_unit(rgb)
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(unit[..., c]), "F").resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(unit.shape[2])
    ]
    return from_unit(np.clip(np.stack(channels, axis=2), 0.0, 1.0), Depth.of(rgb))


def keep_colours(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Stylized luminance with the content's chroma (Gatys et al. 2016, 'luminance-only').

    In YCbCr (full-range BT.601) a change of Y alone adds the same amount to R, G and B,
    so this is the content plus the luma difference, at any depth (same dtype out). Float
    results are clipped to 0..1 as the integer depths are: the sum can leave the gamut.
    """
    unit_stylized, unit_content = to_unit(stylized), to_unit(content)
    change = (unit_stylized - unit_content) @ LUMA
    kept = unit_content + change[..., None]
    depth = Depth.of(content)
    if depth is Depth.F32:
        np.clip(kept, 0.0, 1.0, out=kept)
    return from_unit(kept, depth)


def in_mode_of(content: Pixels, stylized_rgb: np.ndarray) -> Pixels:
    """Put the stylized colours into the content's mode and depth; alpha passes through."""
    depth = content.depth
    if content.mode.is_gray:
        colour = from_unit((to_unit(stylized_rgb) @ LUMA)[..., None], depth)
    else:
        colour = from_unit(to_unit(stylized_rgb), depth) if depth.deep else stylized_rgb
    alpha = content.alpha()
    array = np.concatenate([colour, alpha], axis=2) if alpha is not None else colour
    return Pixels(array=np.ascontiguousarray(array), mode=content.mode)

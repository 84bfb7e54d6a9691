# -*- coding: utf-8 -*-
"""How pixels travel: wire formats, GIMP 3 babl formats, precisions, byte order.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import sys

# (is_gray, has_alpha) -> (wire layout, channels, babl model: perceptual, as GIMP's own
# plug-ins read layers)
_LAYOUTS = {
    (False, False): ("RGB", 3, "R'G'B'"),
    (False, True): ("RGBA", 4, "R'G'B'A"),
    (True, False): ("GRAY", 1, "Y'"),
    (True, True): ("GRAYA", 2, "Y'A"),
}
# depth -> (wire suffix, bytes per sample, babl type)
DEPTHS = {
    "8": ("8", 1, "u8"),
    "16": ("16", 2, "u16"),
    "float": ("F32", 4, "float"),
}
# (is_gray, has_alpha, depth) -> (wire format, bytes per pixel, babl format for GIMP 3)
_FORMATS = dict(
    ((gray, alpha, depth), (layout + suffix, channels * size, model + " " + babl_type))
    for (gray, alpha), (layout, channels, model) in _LAYOUTS.items()
    for depth, (suffix, size, babl_type) in DEPTHS.items()
)


class PixelFormat(object):
    """How the layer's pixels travel: wire name, bytes per pixel, GIMP 3 babl format.

    depth is one of DEPTHS ("8", "16", "float"; see depth_of_precision). On the wire
    samples are little-endian; GEGL gives and takes native ones (see wire_order).
    """

    def __init__(self, is_gray, has_alpha, depth="8"):
        self.depth = depth
        self.name, self.bpp, self.babl = _FORMATS[(bool(is_gray), bool(has_alpha), depth)]


def depth_of_precision(nick):
    """The DEPTHS key for a GIMP 3 precision's nick ("u8-non-linear", "u16-linear",
    "half-perceptual", "float-linear", ...): u8 and u16 stay, everything else is float."""
    for depth, prefix in (("8", "u8"), ("16", "u16")):
        if nick.startswith(prefix + "-"):
            return depth
    return "float"


def wire_order(pixels, fmt):
    """Native <-> little-endian samples (the same swap both ways; nothing to do on
    little-endian machines, where GEGL's native order is the wire's)."""
    size = DEPTHS[fmt.depth][1]
    if sys.byteorder == "little" or size == 1:
        return pixels
    data = bytearray(pixels)
    swapped = bytearray(len(data))
    for i in range(size):  # byte i of each sample goes to size - 1 - i
        swapped[i::size] = data[size - 1 - i::size]
    return bytes(swapped)

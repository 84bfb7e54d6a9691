# -*- coding: utf-8 -*-
"""Which rectangle of the layer is sent, where the result goes, preview sizes.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
from .errors import StylizeError

class Region(object):
    """The part of the source layer that is stylized.

    x, y are drawable coordinates (for reading pixels); image_x, image_y where the
    result layer goes; masked tells whether a selection mask should be added.
    """

    def __init__(self, x, y, width, height, image_x, image_y, masked):
        self.x, self.y, self.width, self.height = x, y, width, height
        self.image_x, self.image_y, self.masked = image_x, image_y, masked

    def __repr__(self):
        return "Region(%r)" % (self.__dict__,)


def preview_size(width, height, side):
    """(width, height, scale) of a preview whose long side is at most `side` (>= 16 px)."""
    scale = min(1.0, float(side) / max(width, height))
    return (max(16, int(round(width * scale))), max(16, int(round(height * scale))), scale)


def plan_region(offsets, intersection, has_selection):
    """Decide which rectangle to send and where the result goes.

    offsets: the layer's (x, y) in the image. intersection: (x, y, w, h) of the
    selection's bounding box ∩ layer in drawable coordinates (the whole layer when
    nothing is selected), or None when the selection misses the layer.
    """
    if intersection is None or intersection[2] <= 0 or intersection[3] <= 0:
        raise StylizeError("The selection does not overlap the layer. Select part of the "
                           "layer, or Select > None to stylize the whole layer.")
    x, y, width, height = intersection
    return Region(x, y, width, height, offsets[0] + x, offsets[1] + y, bool(has_selection))


def whole_layer(offsets, width, height):
    """The whole layer, unmasked: when the selection says where styles paint (regions),
    its bounding box would leave nothing outside it."""
    return Region(0, 0, width, height, offsets[0], offsets[1], False)

# -*- coding: utf-8 -*-
"""GIMP 3 only: a small render of the layer (or the selection) through the daemon, for
the dialog's live preview. Imported lazily by the GIMP 3 entry (GIMP 2.10 never loads it).

The layer is read already downscaled by GEGL (a scaled buffer read), so a 24-megapixel
layer costs the same as a small one; the render is an ordinary job at preview size.
"""

from . import core

PREVIEW_SIDE = 320  # long side of the preview, in pixels
_BABL = "R'G'B'A u8"  # the preview is always RGBA: GdkPixbuf shows it as is


def read_small(drawable, region, side=PREVIEW_SIDE):
    """(width, height, RGBA bytes) of the region, scaled so its long side is <= side."""
    from gi.repository import Gegl

    width, height, scale = core.preview_size(region.width, region.height, side)
    rect = Gegl.Rectangle.new(int(region.x * scale), int(region.y * scale), width, height)
    data = drawable.get_buffer().get(rect, scale, _BABL, Gegl.AbyssPolicy.CLAMP)
    return width, height, bytes(data)


def render(drawable, region, request, session, side=PREVIEW_SIDE):
    """(width, height, RGBA bytes) of the stylized preview. Raises core.StylizeError.

    Always the fast method: the optimisation takes minutes (the dialog says so).
    `session` is the dialog's core.BridgeSession (one warm bridge for every preview).
    """
    width, height, pixels = read_small(drawable, region, side)
    fmt = core.PixelFormat(False, True)
    small = core.preview_request(request, core.preview_size(region.width, region.height, side)[2])
    small.method, small.keep_steps = "fast", 0  # the live preview is always the fast method
    return width, height, session.stylize(pixels, width, height, fmt, small)

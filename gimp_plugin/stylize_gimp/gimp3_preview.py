# -*- coding: utf-8 -*-
"""GIMP 3 only: a small render of the layer (or the selection) through the daemon, for
the dialog's live preview. Imported lazily by the GIMP 3 entry (GIMP 2.10 never loads it).

The layer is read already downscaled by GEGL (a scaled buffer read), so a 24-megapixel
layer costs the same as a small one; the render is an ordinary job at preview size.
"""

from . import core

PREVIEW_SIDE = 320  # long side of the preview, in pixels
_BABL = "R'G'B'A u8"  # the preview is always RGBA: GdkPixbuf shows it as is
# masks are read as GIMP keeps them (linear grey: coverage, not a perceptual tone)
MASK_BABL = {"8": "Y u8", "16": "Y u16", "float": "Y float"}


def mask_reader(drawable, region, depth, size=None, scale=1.0):
    """read(kind, channel) for core.read_masks: the area's mask from the image's selection,
    a channel or the layer's mask, at `scale` (the preview reads them small, as GEGL
    downscales the layer). Outside the canvas a mask is black."""
    from gi.repository import Gegl

    width, height = size or (region.width, region.height)
    sources = {"selection": drawable.get_image().get_selection, "layer-mask": drawable.get_mask}

    def read(kind, channel):
        mask = sources[kind]() if kind in sources else channel
        x, y = core.mask_origin(kind, region)
        rect = Gegl.Rectangle.new(int(x * scale), int(y * scale), width, height)
        data = mask.get_buffer().get(rect, scale, MASK_BABL[depth], Gegl.AbyssPolicy.NONE)
        return core.Mask(width, height, depth, bytes(data))

    return read


def read_regions(request, drawable, region, depth, size=None, scale=1.0):
    """Fill request.masks and request.strength_map from GIMP (core.read_masks), of the
    area's size or `size` (the preview's) at `scale`."""
    read = mask_reader(drawable, region, depth, size, scale)
    request.masks, request.strength_map = core.read_masks(request.wheres,
                                                          request.strength_channel, read)


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
    scale = core.preview_size(region.width, region.height, side)[2]
    small = core.preview_request(request, scale)
    read_regions(small, drawable, region, "8", (width, height), scale)  # as small as the layer
    small.method, small.keep_steps = "fast", 0  # the live preview is always the fast method
    return width, height, session.stylize(pixels, width, height, fmt, small)

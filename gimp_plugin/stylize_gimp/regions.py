# -*- coding: utf-8 -*-
"""Regions: where each style paints (inside or outside the selection, a saved channel,
the layer's mask) and a strength map, read from GIMP as grey masks of the area that is
stylized, checked before anything is sent (protocol.py, version 6).

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3). The entries
read the pixels (`read(kind, channel)`: GEGL buffers in GIMP 3, pixel regions in 2.10);
everything else is here.
"""
from array import array

from .errors import StylizeError
from .pixels import DEPTHS, wire_order

# "Where" choices, in dialog order (the 2.10 option index).
WHERE = ("everywhere", "inside", "outside", "channel", "layer-mask")
WHERE_LABELS = ("Everywhere", "Inside the selection", "Outside the selection",
                "In a channel", "In the layer mask")
WHERE_HELP = ("Where this style paints: everywhere, inside or outside the selection, where a "
              "saved channel is white, or where the layer's mask is white (grey blends)")
STRENGTH_MAP_HELP = ("Optional: a saved channel that scales the strength per pixel (white: "
                     "full strength, black: the layer's own look)")
SELECTION_KINDS = ("inside", "outside")
# GIMP 2.10's one regions option (its dialog cannot follow choices): the option index.
SPLIT_OPTIONS = ("Everywhere (every style)", "Style 1 inside the selection, style 2 outside")
# array typecodes of a mask's samples, by depth (native byte order in memory)
_TYPECODES = {"16": "H", "float": "f"}
_FULL = {"8": 255, "16": 65535, "float": 1.0}


class Where(object):
    """Where one style paints: kind is one of WHERE; channel (a GIMP channel, opaque
    here) and its name for kind "channel"."""

    def __init__(self, kind="everywhere", channel=None, channel_name=""):
        self.kind = kind if kind in WHERE else _where_name(kind)
        self.channel, self.channel_name = channel, channel_name

    def __repr__(self):
        return "Where(%r, %r)" % (self.kind, self.channel_name)


def _where_name(value):
    if isinstance(value, int) and 0 <= value < len(WHERE):
        return WHERE[value]
    raise StylizeError("Unknown region %r: use one of %s." % (value, ", ".join(WHERE)))


class Mask(object):
    """A grey mask of the stylized area: depth one of DEPTHS' keys, samples in native
    byte order (as GIMP gives them)."""

    def __init__(self, width, height, depth, data):
        size = DEPTHS[depth][1]
        if len(data) != width * height * size:
            raise ValueError("mask: %d bytes for %dx%d at depth %s"
                             % (len(data), width, height, depth))
        self.width, self.height, self.depth, self.data = width, height, depth, bytes(data)

    def wire_format(self):
        return "GRAY" + DEPTHS[self.depth][0]

    def header(self):
        """Its entry in the bridge's request (protocol.py, version 6)."""
        return {"width": self.width, "height": self.height, "format": self.wire_format(),
                "size": len(self.data)}

    def wire(self):
        """Its bytes as the bridge reads them (little-endian samples)."""
        return wire_order(self.data, self)

    def is_empty(self):
        """Black (0) everywhere."""
        return not self.data.strip(b"\0")

    def inverted(self):
        """White where this is black: the outside of a selection."""
        if self.depth == "8":
            table = bytes(bytearray(range(255, -1, -1)))
            return Mask(self.width, self.height, self.depth, self.data.translate(table))
        samples = array(_TYPECODES[self.depth])
        getattr(samples, "frombytes", getattr(samples, "fromstring", None))(self.data)
        full = _FULL[self.depth]
        out = array(samples.typecode, [max(0, min(full, full - v)) for v in samples])
        data = getattr(out, "tobytes", getattr(out, "tostring", None))()
        return Mask(self.width, self.height, self.depth, data)


def uses_selection(wheres):
    """Whether the selection says where styles paint: then the whole layer is stylized
    (the selection's bounding box would leave nothing outside it)."""
    return any(w.kind in SELECTION_KINDS for w in wheres)


def mask_origin(kind, region):
    """Where the stylized area starts in a mask's own coordinates: the image's for the
    selection and channels, the layer's for its layer mask (geometry.Region)."""
    if kind == "layer-mask":
        return region.x, region.y
    return region.image_x, region.image_y


def check_choices(wheres, has_selection, has_layer_mask, output="new-layer"):
    """Refuse, before reading anything, choices that cannot work: StylizeError saying
    what to do."""
    for number, where in enumerate(wheres, 1):
        if where.kind in SELECTION_KINDS and not has_selection:
            raise StylizeError("Style %d paints %s the selection, but nothing is selected. "
                               "Select where it paints, or choose Everywhere."
                               % (number, where.kind))
        if where.kind == "channel" and where.channel is None:
            raise StylizeError("Style %d paints in a channel: choose the channel (save a "
                               "selection with Select > Save to Channel)." % number)
        if where.kind == "layer-mask" and not has_layer_mask:
            raise StylizeError("Style %d paints in the layer mask, but the layer has none. "
                               "Add one (Layer > Mask > Add Layer Mask), or choose another "
                               "region." % number)
    if uses_selection(wheres) and output == "in-place":
        raise StylizeError("In place, the result goes inside the selection only, so styles "
                           "cannot paint inside and outside it: choose Output: New layer.")


def _empty_message(number, where):
    if where.kind == "inside":
        return ("The selection is empty over the layer: style %d has nothing to paint "
                "inside it. Select where it paints, or choose Everywhere." % number)
    if where.kind == "outside":
        return ("The selection covers the whole layer: style %d has nothing to paint "
                "outside it. Select less, or choose Everywhere." % number)
    if where.kind == "channel":
        return ("The channel \"%s\" is black over the layer: style %d would paint nothing. "
                "Paint it white where the style should go." % (where.channel_name, number))
    return ("The layer mask is black everywhere: style %d would paint nothing. Paint it "
            "white where the style should go." % number)


def read_masks(wheres, strength_channel, read):
    """([Mask or None per style], strength map Mask or None), read from GIMP.

    read(kind, channel) -> Mask of the stylized area: kind "selection", "channel" or
    "layer-mask". The selection is read once; an empty region or an all-black strength
    map is refused with a message naming it (the daemon would refuse an empty region)."""
    cache = {}

    def selection():
        if "selection" not in cache:
            cache["selection"] = read("selection", None)
        return cache["selection"]

    masks = []
    for number, where in enumerate(wheres, 1):
        if where.kind == "everywhere":
            masks.append(None)
            continue
        if where.kind in SELECTION_KINDS:
            mask = selection() if where.kind == "inside" else selection().inverted()
        else:
            mask = read(where.kind, where.channel)
        if mask.is_empty():
            raise StylizeError(_empty_message(number, where))
        masks.append(mask)
    strength = None
    if strength_channel is not None:
        strength = read("channel", strength_channel)
        if strength.is_empty():
            raise StylizeError("The strength map channel is black everywhere over the layer: "
                               "nothing would be painted. Paint it white where the style "
                               "should be strong, or choose no strength map.")
    return masks, strength


def split_wheres(option, styles):
    """GIMP 2.10's regions option (SPLIT_OPTIONS index) as a Where per style slot; the
    split needs a second style (`styles`: how many the request has)."""
    if not option:
        return [Where(), Where(), Where()]
    if styles < 2:
        raise StylizeError("\"Style 1 inside the selection, style 2 outside\" needs a second "
                           "style image.")
    return [Where("inside"), Where("outside"), Where()]


def read_clipped(read_rect, x, y, width, height, bounds):
    """The width x height area at (x, y) of an 8-bit mask covering (0, 0) to `bounds`
    (GIMP 2.10's selection: pixel regions cannot reach past it): read_rect(x, y, w, h)
    reads the part inside; the rest is black."""
    x1, y1 = max(x, 0), max(y, 0)
    x2, y2 = min(x + width, bounds[0]), min(y + height, bounds[1])
    out = bytearray(width * height)
    if x2 > x1 and y2 > y1:
        inner, row = read_rect(x1, y1, x2 - x1, y2 - y1), x2 - x1
        for r in range(y2 - y1):
            start = (y1 - y + r) * width + (x1 - x)
            out[start:start + row] = inner[r * row:(r + 1) * row]
    return Mask(width, height, "8", bytes(out))

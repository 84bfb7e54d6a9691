# -*- coding: utf-8 -*-
"""The user's choices: their names and labels, their limits, and their validation
into a Request (dialog or PDB parameters, 2.10 option indices included).

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import copy

from .errors import StylizeError
from .regions import Where

# Colour matching choices, in dialog order (the 2.10 option index): the daemon's ColorMatch.
COLOR_MATCHES = ("none", "content", "style")
COLOR_MATCH_LABELS = ("None", "Paint in the layer's palette", "Take the style's palette")

# Methods and the optimisation's presets, in dialog order (the 2.10 option index); the
# bridge maps a preset to iterations and scales (stylize/client/bridge.py PRESETS).
METHODS = ("fast", "optimize")
METHOD_LABELS = ("Fast (seconds)", "Best quality (minutes)")
PRESETS = ("draft", "good", "best")
# "Finest", not "Best": next to the method "Best quality" a "Best" read as the same thing
PRESET_LABELS = ("Draft (quickest)", "Good", "Finest (slowest)")
MAX_KEEP_STEPS = 20
METHOD_HELP = ("Fast paints in seconds. Best quality refines the picture step by step "
               "(Gatys et al.): minutes to an hour, finer strokes. The live preview always "
               "uses the fast method.")
PRESET_HELP = ("Best quality only: how far it refines; Draft is quickest, Finest takes longest "
               "(README: what each costs)")
BALANCE_HELP = ("Best quality only: 0 keeps more of the layer's picture, 1 paints more of the "
                "style (Strength applies to the fast method)")
KEEP_STEPS_HELP = ("Best quality only: add this many intermediate results as layers in a "
                   "hidden layer group below the result (0: none; with a new layer only)")


# Where the result goes, in dialog order (the 2.10 option index).
OUTPUTS = ("new-layer", "in-place")
OUTPUT_LABELS = ("New layer above the source", "Replace the layer's pixels (in place)")
# Blend modes of the new layer: (name, label, GIMP 3 Gimp.LayerMode member).
BLEND_MODES = (("normal", "Normal", "NORMAL"), ("overlay", "Overlay", "OVERLAY"),
               ("soft-light", "Soft light", "SOFTLIGHT"), ("multiply", "Multiply", "MULTIPLY"),
               ("screen", "Screen", "SCREEN"), ("color", "Colour (HSL)", "HSL_COLOR"),
               ("luminance", "Luminance", "LUMINANCE"))
OUTPUT_HELP = ("New layer (default): the result goes in a new layer above the source, with "
               "the opacity and blend mode below. In place: the result replaces the layer's "
               "pixels (inside the selection), fully; opacity and blend mode do not apply")


class LibraryStyle(object):
    """A named style of the daemon's library (the gallery's choice), sent by name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "LibraryStyle(%r)" % (self.name,)

    def __eq__(self, other):
        return isinstance(other, LibraryStyle) and other.name == self.name

    def __ne__(self, other):  # Python 2 does not derive it from __eq__
        return not self == other


MAX_WEIGHT = 10.0  # style weights are relative to their sum: a later style may outweigh the first


STRENGTH_HELP = ("How much of the painting's character: 1 paints fully in its style, 0 in "
                 "the layer's own style (the layer is still repainted; use Opacity to fade "
                 "the effect)")
OPACITY_HELP = "Opacity of the new layer over the original: how much of the effect shows"
# Stroke scale: the daemon's (engine/stroke_scale.py). The daemon accepts up to 16; the
# dialog stops at 4 (a 256-px painting), where the photo is already mostly gone.
DEFAULT_STROKE_SCALE = 1.0
MIN_STROKE_SCALE = 1.0 / 64  # full resolution: the network's own, finest strokes
MAX_STROKE_SCALE = 16.0
DIALOG_MAX_STROKE_SCALE = 4.0
STROKE_SCALE_HELP = ("Size of the brush strokes relative to the image: 1 paints them as on a "
                     "1024-pixel picture, 2 twice as large; the far left (1/64) paints at the "
                     "layer's full resolution (the finest strokes, slowest)")


class Request(object):
    """What the user asked for: [(style path, weight)], strength in [0, 1], address,
    whether to keep the layer's colours (only the stylized luminance is used), the
    colour matching (one of COLOR_MATCHES), the new layer's opacity (0..100) and the
    stroke scale (see DEFAULT_STROKE_SCALE).
    A style is a file path or a LibraryStyle; output is one of OUTPUTS, blend_mode one of
    BLEND_MODES' names.

    The method (one of METHODS): "fast" uses strength; "optimize" uses the preset (one of
    PRESETS), balance (0 content .. 1 style) and keep_steps (intermediate results).

    Regions: wheres (one regions.Where per style, in order) and strength_channel (a GIMP
    channel or None) say where to read masks; the entry reads them into masks (a
    regions.Mask or None per style) and strength_map before the job is sent."""

    def __init__(self, styles, strength, address, keep_colors=False, color_match="none",
                 opacity=100.0, output="new-layer", blend_mode="normal",
                 stroke_scale=DEFAULT_STROKE_SCALE, method="fast", preset="good", balance=0.5,
                 keep_steps=0):
        self.styles, self.strength, self.address = styles, strength, address
        self.keep_colors = keep_colors
        self.color_match = color_match
        self.opacity = opacity
        self.output, self.blend_mode = output, blend_mode
        self.stroke_scale = stroke_scale
        self.method, self.preset, self.balance = method, preset, balance
        self.keep_steps = keep_steps if method == "optimize" else 0
        self.wheres = [Where() for _ in styles]
        self.strength_channel = None
        self.masks, self.strength_map = [None] * len(styles), None


def _choice(value, names, what):
    """A name of ``names`` from a name or a 2.10 option index."""
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if value in names:
        return value
    raise StylizeError("Unknown %s %r: use one of %s." % (what, value, ", ".join(names)))


def preview_request(request, scale):
    """The request for a preview made at `scale` (< 1) of the layer's size: the stroke
    scale follows, so the preview's strokes are as large, relative to the picture, as
    the result's (up to the daemon's maximum)."""
    preview = copy.copy(request)
    preview.stroke_scale = min(MAX_STROKE_SCALE, request.stroke_scale / min(1.0, scale))
    return preview


def color_match_name(value):
    """A COLOR_MATCHES name from a name or a 2.10 option index."""
    return _choice(value, COLOR_MATCHES, "colour matching")


def _method_settings(method, preset, balance, keep_steps):
    """(method, preset, balance, keep_steps) checked, or StylizeError saying what to fix."""
    method = _choice(method, METHODS, "method")
    preset = _choice(preset, PRESETS, "quality preset")
    if not 0.0 <= float(balance) <= 1.0:
        raise StylizeError("The style/content balance must be between 0 and 1, got %s."
                           % balance)
    if not 0 <= int(keep_steps) <= MAX_KEEP_STEPS:
        raise StylizeError("Intermediate results to keep must be between 0 and %d, got %s."
                           % (MAX_KEEP_STEPS, keep_steps))
    return method, preset, float(balance), int(keep_steps)


def make_request(strength, address, styles, keep_colors=False, color_match="none",
                 opacity=100.0, output="new-layer", blend_mode="normal",
                 stroke_scale=DEFAULT_STROKE_SCALE, method="fast", preset="good", balance=0.5,
                 keep_steps=0, wheres=None, strength_channel=None):
    """Validate the dialog/PDB parameters; styles is [(path, weight), ...], wheres a
    regions.Where per slot of styles (None: everywhere).

    The first style is required; further styles with an empty path or weight 0 are
    skipped (the dialog always shows three slots), with their regions.
    """
    first = styles[0][0] if styles else ""
    if not first:
        raise StylizeError("Choose a style image (a painting as PNG, JPEG, WebP or TIFF).")
    wheres = list(wheres or []) + [Where()] * (len(styles) - len(wheres or []))
    slots = [0] + [i for i, (p, w) in enumerate(styles) if i and p and w > 0]
    chosen = [(styles[0][0], 1.0 if styles[0][1] is None else float(styles[0][1]))]
    chosen += [(styles[i][0], float(styles[i][1])) for i in slots[1:]]
    if not 0.0 <= float(strength) <= 1.0:
        raise StylizeError("Strength must be between 0 and 1, got %s." % strength)
    for path, weight in chosen:
        if not 0 <= weight <= MAX_WEIGHT:
            raise StylizeError("Style weights must be between 0 and %g (%s: %s)."
                               % (MAX_WEIGHT, path, weight))
    if not 0.0 <= float(opacity) <= 100.0:
        raise StylizeError("Opacity must be between 0 and 100, got %s." % opacity)
    if not MIN_STROKE_SCALE <= float(stroke_scale) <= MAX_STROKE_SCALE:  # NaN fails too
        raise StylizeError("Stroke size must be between %g (full resolution) and %g, got %s."
                           % (MIN_STROKE_SCALE, MAX_STROKE_SCALE, stroke_scale))
    match = color_match_name(color_match)
    if match == "style" and keep_colors:
        raise StylizeError("\"Take the style's palette\" and \"Keep colours\" contradict each "
                           "other: choose one.")
    request = Request(chosen, float(strength), (address or "").strip(), bool(keep_colors),
                      match, float(opacity), _choice(output, OUTPUTS, "output"),
                      _choice(blend_mode, [m[0] for m in BLEND_MODES], "blend mode"),
                      float(stroke_scale), *_method_settings(method, preset, balance, keep_steps))
    request.wheres = [wheres[i] or Where() for i in slots]
    request.strength_channel = strength_channel
    return request

# -*- coding: utf-8 -*-
"""The GIMP 3 dialog's layout and which controls act, free of any GIMP API.

Standard library only (tested without GIMP). The GIMP 3 entry builds the dialog from
these: the preview and the gallery side by side on top (both of a fixed size, so the
dialog does not jump while they load), then the settings in notebook pages (the
notebook is as tall as its tallest page, whichever page shows), and greys out the
controls that do nothing with the current choices (`sensitivity`).

The Regions page says where each style paints: a row per style (its Where choice and,
beside it, the channel for "In a channel"), the strength map, and one button for the
common case, "style 1 inside the selection, style 2 outside" (SPLIT).
"""

# (page id, tab label, the procedure arguments on it, in order). "style-name" is not
# shown: the gallery sets it.
PAGES = (
    ("page-style", "_Style", ("style-file", "strength", "stroke-scale", "keep-colors",
                              "color-match")),
    ("page-mix", "_Mix styles", ("style-2", "weight-2", "style-3", "weight-3")),
    ("page-output", "_Output", ("output", "opacity", "blend-mode")),
    ("page-regions", "_Regions", ("regions-row-1", "regions-row-2", "regions-row-3",
                                  "strength-map")),
    ("page-method", "Met_hod", ("method", "preset", "balance", "keep-steps", "method-note")),
    ("page-daemon", "_Daemon", ("daemon-address",)),
)
# Rows of a page that hold several arguments side by side (a style's Where and channel).
ROWS = dict(("regions-row-%d" % n, ("region-%d" % n, "region-channel-%d" % n))
            for n in (1, 2, 3))
# The Regions page's button: one click for the common case (a selection, two styles).
SPLIT = ("regions-split", "Style 1 _inside the selection, style 2 outside",
         {"region-1": "inside", "region-2": "outside"})
ANIMATION_PAGES = (
    ("page-style", "_Style", ("style-file", "strength", "stroke-scale", "consistent")),
    ("page-colours", "_Colours", ("keep-colors", "color-match")),
    ("page-mix", "_Mix styles", ("style-2", "weight-2", "style-3", "weight-3")),
    ("page-daemon", "_Daemon", ("daemon-address",)),
)
NOTES = {"method-note": "The live preview always uses the fast method."}
MAX_PAGE_ROWS = 5  # a page's height budget: the dialog fits a 1080p screen with room

# The fixed sizes of the top row, in pixels (the gallery: two rows of thumbnails).
PREVIEW_SIDE = 320
GALLERY_ROW = 96 + 36  # a thumbnail and its name
GALLERY_ROWS = 2


def sensitivity(values):
    """{argument: whether it acts} for the dialog's current values (a dict of argument
    name -> value; files as paths or None). Arguments not named here always act."""
    get = values.get
    optimize = get("method") == "optimize"
    new_layer = get("output", "new-layer") == "new-layer"
    second = bool(get("style-2"))
    third = second and bool(get("style-3"))
    return dict(_region_sensitivity(get, second, third), **{
        "strength": not optimize,  # the fast method's; the optimisation has a balance
        "weight-2": second,
        "style-3": second,  # mix in order: a third style after a second
        "weight-3": third,
        "opacity": new_layer,  # in place the result replaces the pixels fully
        "blend-mode": new_layer,
        "preset": optimize,
        "balance": optimize,
        "keep-steps": optimize and new_layer,  # in place there is no layer to add steps to
    })


def _region_sensitivity(get, second, third):
    """A style's Where acts once the style is chosen, its channel with "In a channel";
    the split button with a selection ("has-selection", the entry's) and two styles."""
    chosen = {1: True, 2: second, 3: third}
    acts = {SPLIT[0]: second and bool(get("has-selection"))}
    for n, style in chosen.items():
        acts["region-%d" % n] = style
        acts["region-channel-%d" % n] = style and get("region-%d" % n) == "channel"
    return acts


def shown_arguments(pages):
    """Every argument the pages show, in order (notes excluded, rows expanded)."""
    return [argument for _, _, names in pages for name in names if name not in NOTES
            for argument in ROWS.get(name, (name,))]

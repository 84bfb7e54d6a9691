# -*- coding: utf-8 -*-
"""Names the results get: layers, groups, library entries.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import os

from .errors import native_text
from .options import (
    COLOR_MATCH_LABELS,
    COLOR_MATCHES,
    DEFAULT_STROKE_SCALE,
    MIN_STROKE_SCALE,
    LibraryStyle,
)

def style_label(source):
    """How a style shows in layer names: its library name, or its file name's stem."""
    if isinstance(source, LibraryStyle):
        return source.name
    return os.path.splitext(os.path.basename(source))[0]


def layer_name(source_name, request):
    """'Background (starry_night + great_wave)', plus what differs from the defaults:
    'Background (starry_night, strength 0.6, keep colours)'."""
    names = [style_label(p) for p, _ in request.styles]
    parts = [" + ".join(names)]
    if request.method == "optimize":
        parts.append("%s quality" % request.preset)
        if request.balance != 0.5:
            parts.append("balance %g" % round(request.balance, 2))
    elif request.strength != 1.0:
        parts.append("strength %g" % round(request.strength, 2))
    if request.keep_colors:
        parts.append("keep colours")
    if request.color_match != "none":
        parts.append(COLOR_MATCH_LABELS[COLOR_MATCHES.index(request.color_match)].lower())
    if request.stroke_scale <= MIN_STROKE_SCALE:
        parts.append("full resolution")
    elif request.stroke_scale != DEFAULT_STROKE_SCALE:
        parts.append("strokes x%g" % round(request.stroke_scale, 2))
    return native_text("%s (%s)" % (source_name, ", ".join(parts)))


def steps_group_name(source_name):
    return native_text("%s: intermediate results" % source_name)


def library_name(path):
    """A valid library name from a file name: 'My painting (2).jpg' -> 'My_painting_2'."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "".join(c if (c.isalnum() and ord(c) < 128) or c in "_.-" else "_" for c in stem)
    name = "_".join(part for part in name.split("_") if part).lstrip("._-")
    return (name or "style")[:64]

#!/usr/bin/env python2
# -*- coding: utf-8 -*-
"""GIMP 2.10 entry (Python-Fu, Python 2.7): Filters > Artistic > Neural Style Transfer...

Thin by design: registration, reading the layer, writing the new layer. Everything else
(validation, the bridge to the daemon, naming, geometry) is in stylize_gimp/core.py,
installed next to this file by `stylize gimp install`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # Windows does not add it

from gimpfu import *  # noqa: E402,F401,F403  gimp, pdb, register, main, PF_*, enums

from stylize_gimp import animation, core  # noqa: E402  (stdlib only: cheap at query time)


def stylize_layer(image, drawable, style, strength, style2, weight2, style3, weight3,
                  address, keep_colors=False, color_match=0, opacity=100.0, output=0,
                  style_name="", stroke_scale=core.DEFAULT_STROKE_SCALE, method=0, preset=1,
                  regions=0):
    """The PDB procedure. Talks to the daemon first; the image is touched only on success.

    stroke_scale, method, preset (option indices: core.METHODS, core.PRESETS) and regions
    (core.SPLIT_OPTIONS) are appended last so scripts written for earlier versions keep
    their meaning."""
    try:
        first = core.LibraryStyle(style_name.strip()) if style_name.strip() else style
        styles = [(first, 1.0), (style2, weight2), (style3, weight3)]
        wheres = core.split_wheres(regions, len([p for p, w in styles if p and w > 0]))
        request = core.make_request(strength, address, styles, keep_colors, color_match,
                                    opacity, output, stroke_scale=stroke_scale, method=method,
                                    preset=preset, wheres=wheres)
        core.check_choices(request.wheres, not pdb.gimp_selection_is_empty(image), False,
                           request.output)
        region = _plan_region(image, drawable, request.wheres)
        request.masks, _ = core.read_masks(request.wheres, None, _mask_reader(image, region))
        fmt = core.PixelFormat(drawable.is_gray, drawable.has_alpha)
        gimp.progress_init("Neural style transfer")
        pixels = core.stylize(_read_pixels(drawable, region), region.width, region.height,
                              fmt, request, progress=_show_progress)
    except core.StylizeError as e:
        gimp.message(core.error_text(e))
        return
    if request.output == "in-place":
        _apply_in_place(image, drawable, region, pixels)
    else:
        _insert_result(image, drawable, region, core.layer_name(drawable.name, request),
                       pixels, request.opacity)


def _plan_region(image, drawable, wheres):
    """The selection's box on the layer, or the whole layer when the selection says
    where the styles paint."""
    if drawable.is_indexed:
        raise core.StylizeError(core.INDEXED_MESSAGE)
    if core.uses_selection(wheres):
        return core.whole_layer(drawable.offsets, drawable.width, drawable.height)
    try:
        intersection = drawable.mask_intersect()
    except gimp.error:
        intersection = None  # the selection misses this layer
    has_selection = not pdb.gimp_selection_is_empty(image)
    return core.plan_region(drawable.offsets, intersection, has_selection)


def _mask_reader(image, region):
    """read(kind, channel) for core.read_masks: the selection over the area (8-bit pixel
    regions; outside the canvas it is black)."""
    selection = image.selection

    def read_rect(x, y, w, h):
        return selection.get_pixel_rgn(x, y, w, h, False, False)[x:x + w, y:y + h]

    def read(kind, channel):
        return core.read_clipped(read_rect, region.image_x, region.image_y, region.width,
                                 region.height, (image.width, image.height))

    return read


def _read_pixels(drawable, region):
    x, y, w, h = region.x, region.y, region.width, region.height
    return drawable.get_pixel_rgn(x, y, w, h, False, False)[x:x + w, y:y + h]


def _show_progress(fraction, message):
    gimp.progress_update(fraction)
    if message:
        pdb.gimp_progress_set_text(core.native_text(message))


def _apply_in_place(image, drawable, region, pixels):
    """The result over the layer's own pixels through its shadow tiles: GIMP merges them
    inside the selection as one undo step, like its own filters."""
    x, y, w, h = region.x, region.y, region.width, region.height
    pdb.gimp_image_undo_group_start(image)
    try:
        rgn = drawable.get_pixel_rgn(x, y, w, h, True, True)
        rgn[x:x + w, y:y + h] = pixels
        drawable.flush()
        drawable.merge_shadow(True)
        drawable.update(x, y, w, h)
    finally:
        pdb.gimp_image_undo_group_end(image)
    gimp.displays_flush()


def _insert_result(image, source, region, name, pixels, opacity):
    """New layer right above the source, in one undo group."""
    w, h = region.width, region.height
    pdb.gimp_image_undo_group_start(image)
    try:
        layer = gimp.Layer(image, name, w, h, source.type, opacity, LAYER_MODE_NORMAL)
        pdb.gimp_image_insert_layer(image, layer, pdb.gimp_item_get_parent(source),
                                    pdb.gimp_image_get_item_position(image, source))
        layer.set_offsets(region.image_x, region.image_y)
        rgn = layer.get_pixel_rgn(0, 0, w, h, True, False)
        rgn[0:w, 0:h] = pixels
        layer.flush()
        if region.masked:
            layer.add_mask(layer.create_mask(ADD_MASK_SELECTION))
        layer.update(0, 0, w, h)
    finally:
        pdb.gimp_image_undo_group_end(image)
    gimp.displays_flush()


def stylize_animation(image, drawable, style, strength, style2, weight2, style3, weight3,
                      address, keep_colors=False, color_match=0, style_name="",
                      stroke_scale=core.DEFAULT_STROKE_SCALE, consistent=True):
    """The animation's PDB procedure: every top-level layer a frame (bottom first), one
    sequence; returns a new image of the stylized frames (None after a message)."""
    try:
        if image.base_type == INDEXED:
            raise core.StylizeError(core.INDEXED_MESSAGE)
        first = core.LibraryStyle(style_name.strip()) if style_name.strip() else style
        request = core.make_request(strength, address,
                                    [(first, 1.0), (style2, weight2), (style3, weight3)],
                                    keep_colors, color_match, stroke_scale=stroke_scale)
        layers = list(reversed(image.layers))  # GIMP plays the bottom layer first
        plan = animation.plan_frames(image.width, image.height, [
            (layer.name, layer.offsets, layer.width, layer.height, layer.has_alpha)
            for layer in layers])
        gray = image.base_type == GRAY
        fmt = core.PixelFormat(gray, plan.alpha)

        def read_frame(frame):
            layer = layers[frame.index]
            x, y, w, h = frame.read_x, frame.read_y, frame.width, frame.height
            pixels = layer.get_pixel_rgn(x, y, w, h, False, False)[x:x + w, y:y + h]
            return animation.with_alpha(pixels, core.PixelFormat(gray, layer.has_alpha), fmt)

        gimp.progress_init("Stylizing %d frames" % len(layers))
        results = animation.stylize_frames(read_frame, plan, fmt, request, consistent,
                                           progress=_show_progress)
    except core.StylizeError as e:
        gimp.message(core.error_text(e))
        return None
    return _frames_image(image, plan, fmt, results)


def _frames_image(image, plan, fmt, results):
    """A new image of the stylized frames, named and stacked as the source's layers (so
    with their timings), built with undo off as GIMP's own animation filters do."""
    new = gimp.Image(plan.width, plan.height, image.base_type)
    new.disable_undo()
    kind = {(False, False): RGB_IMAGE, (False, True): RGBA_IMAGE,
            (True, False): GRAY_IMAGE, (True, True): GRAYA_IMAGE}[
                (image.base_type == GRAY, plan.alpha)]
    for frame, pixels in zip(plan.frames, results):  # bottom first: each goes on top
        layer = gimp.Layer(new, frame.name, frame.width, frame.height, kind, 100.0,
                           LAYER_MODE_NORMAL)
        pdb.gimp_image_insert_layer(new, layer, None, 0)
        layer.set_offsets(frame.x, frame.y)
        rgn = layer.get_pixel_rgn(0, 0, frame.width, frame.height, True, False)
        rgn[0:frame.width, 0:frame.height] = animation.off_canvas(pixels, frame, plan, fmt)
        layer.flush()
        layer.update(0, 0, frame.width, frame.height)
    new.enable_undo()
    try:
        gimp.Display(new)
    except gimp.error:
        pass  # no displays in batch mode: the script gets the image
    return new


register(
    core.PROC_NAME, core.BLURB, core.HELP + " " + core.GIMP2_PRECISION_HELP,
    "Stylize contributors", "Apache-2.0", "2026",
    core.MENU_LABEL, core.IMAGE_TYPES,
    [
        (PF_IMAGE, "image", "Input image", None),
        (PF_DRAWABLE, "drawable", "Input drawable", None),
        (PF_FILE, "style", "_Style image", ""),
        (PF_SLIDER, "strength", "S_trength (1 full style, 0 the layer's own)", 1.0,
         (0.0, 1.0, 0.05)),
        (PF_FILE, "style2", "Second style image (optional)", ""),
        (PF_SLIDER, "weight2", "Second style weight (first is 1)", 1.0,
         (0.0, core.MAX_WEIGHT, 0.05)),
        (PF_FILE, "style3", "Third style image (optional)", ""),
        (PF_SLIDER, "weight3", "Third style weight (first is 1)", 1.0,
         (0.0, core.MAX_WEIGHT, 0.05)),
        (PF_STRING, "address", "Daemon address (blank: as installed)", ""),
        (PF_TOGGLE, "keep_colors", "Keep the layer's colours", False),
        (PF_OPTION, "color_match", "Colour matching", 0, list(core.COLOR_MATCH_LABELS)),
        (PF_SLIDER, "opacity", "_Opacity of the result", 100.0, (0.0, 100.0, 1.0)),
        (PF_OPTION, "output", "Output", 0, list(core.OUTPUT_LABELS)),
        # GIMP 2.10 registers its parameters once, at query time, without the daemon, so
        # its styles cannot become a list here: type a name from `stylize styles list`.
        (PF_STRING, "style_name", "Library style (a name from `stylize styles list`; "
         "replaces Style image)", ""),
        (PF_SLIDER, "stroke_scale", "Stroke si_ze (1 default, 2 twice as large, far left: "
         "full resolution)", core.DEFAULT_STROKE_SCALE,
         (core.MIN_STROKE_SCALE, core.DIALOG_MAX_STROKE_SCALE, 0.05)),
        (PF_OPTION, "method", "_Method (Best quality takes minutes; strength is for Fast)", 0,
         list(core.METHOD_LABELS)),
        (PF_OPTION, "preset", "_Refinement (Best quality only)", 1, list(core.PRESET_LABELS)),
        (PF_OPTION, "regions", "Re_gions (where the styles paint)", 0,
         list(core.SPLIT_OPTIONS)),
    ],
    [],
    stylize_layer, menu=core.MENU_PATH)

register(
    animation.PROC_NAME, animation.BLURB, animation.HELP + " " + core.GIMP2_PRECISION_HELP,
    "Stylize contributors", "Apache-2.0", "2026",
    animation.MENU_LABEL, core.IMAGE_TYPES,
    [
        (PF_IMAGE, "image", "Input image", None),
        (PF_DRAWABLE, "drawable", "Input drawable (unused: every layer is a frame)", None),
        (PF_FILE, "style", "_Style image", ""),
        (PF_SLIDER, "strength", "S_trength (1 full style, 0 the layer's own)", 1.0,
         (0.0, 1.0, 0.05)),
        (PF_FILE, "style2", "Second style image (optional)", ""),
        (PF_SLIDER, "weight2", "Second style weight (first is 1)", 1.0,
         (0.0, core.MAX_WEIGHT, 0.05)),
        (PF_FILE, "style3", "Third style image (optional)", ""),
        (PF_SLIDER, "weight3", "Third style weight (first is 1)", 1.0,
         (0.0, core.MAX_WEIGHT, 0.05)),
        (PF_STRING, "address", "Daemon address (blank: as installed)", ""),
        (PF_TOGGLE, "keep_colors", "Keep the layers' colours", False),
        (PF_OPTION, "color_match", "Colour matching", 0, list(core.COLOR_MATCH_LABELS)),
        (PF_STRING, "style_name", "Library style (a name from `stylize styles list`; "
         "replaces Style image)", ""),
        (PF_SLIDER, "stroke_scale", "Stroke si_ze (1 default, 2 twice as large, far left: "
         "full resolution)", core.DEFAULT_STROKE_SCALE,
         (core.MIN_STROKE_SCALE, core.DIALOG_MAX_STROKE_SCALE, 0.05)),
        (PF_TOGGLE, "consistent", "Steady strokes from frame to frame", True),
    ],
    [(PF_IMAGE, "new_image", "The stylized frames")],
    stylize_animation, menu=animation.MENU_PATH)

main()

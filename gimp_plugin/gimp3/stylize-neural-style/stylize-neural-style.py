#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""GIMP 3 entry: Filters > Artistic > Neural Style Transfer...

Thin by design: registration, the dialog, reading the layer, writing the new layer.
Everything else is in stylize_gimp/core.py, installed next to this file (GIMP 3 runs
only plug-ins/NAME/NAME.py, so the core lives inside this folder).
"""
import os
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stylize_gimp import animation, core, dialog_layout  # noqa: E402
from stylize_gimp.latest_render import LatestRender  # noqa: E402

RW = GObject.ParamFlags.READWRITE


def _fail(procedure, status, message):
    return procedure.new_return_values(status, GLib.Error(message))


def _path(gfile):
    return gfile.get_path() if gfile is not None else ""


def _first_style(config):
    """The gallery's named style when one is picked, else the chosen file."""
    name = config.get_property("style-name")
    return core.LibraryStyle(name) if name else _path(config.get_property("style-file"))


def _request(config):
    return core.make_request(
        config.get_property("strength"), config.get_property("daemon-address"),
        [(_first_style(config), 1.0),
         (_path(config.get_property("style-2")), config.get_property("weight-2")),
         (_path(config.get_property("style-3")), config.get_property("weight-3"))],
        config.get_property("keep-colors"), config.get_property("color-match"),
        config.get_property("opacity"), config.get_property("output"),
        config.get_property("blend-mode"), config.get_property("stroke-scale"),
        *_method_settings(config), wheres=_wheres(config),
        strength_channel=config.get_property("strength-map"))


def _wheres(config):
    """Where each of the three styles paints (the Regions page; core.Where)."""
    wheres = []
    for n in (1, 2, 3):
        channel = config.get_property("region-channel-%d" % n)
        wheres.append(core.Where(config.get_property("region-%d" % n), channel,
                                 channel.get_name() if channel is not None else ""))
    return wheres


def _method_settings(config):
    """(method, preset, balance, keep steps) from the dialog or a script."""
    return (config.get_property("method"), config.get_property("preset"),
            config.get_property("balance"), config.get_property("keep-steps"))


def _plan_region(image, drawable, wheres=()):
    """The area to stylize: the selection's box on the layer, or the whole layer when the
    selection says where styles paint (regions)."""
    offsets = drawable.get_offsets()  # (ok, x, y)
    if core.uses_selection(wheres):
        return core.whole_layer(offsets[-2:], drawable.get_width(), drawable.get_height())
    found, x, y, w, h = drawable.mask_intersect()
    return core.plan_region(offsets[-2:], (x, y, w, h) if found else None,
                            not Gimp.Selection.is_empty(image))


def _check_regions(image, drawable, request):
    """Refuse region choices that cannot work, before anything is read or sent."""
    core.check_choices(request.wheres, not Gimp.Selection.is_empty(image),
                       drawable.get_mask() is not None, request.output)


def _show_progress(fraction, message):
    if message:
        Gimp.progress_set_text(message)
    Gimp.progress_update(fraction)


class _LivePreview(object):
    """A small render of the layer that follows the dialog's settings.

    A change starts a render at once when none is running (after a few milliseconds, so
    that one edit's several notifications make one render); a change during a render
    waits for it and the newest settings render next (latest_render.LatestRender). A
    worker thread renders through the daemon (gimp3_preview.render) and the result is
    shown from the main loop.
    """

    DELAY_MS = 10  # one edit notifies several properties: render once for all of them

    def __init__(self, config, drawable, region):
        gi.require_version("Gtk", "3.0")
        gi.require_version("GdkPixbuf", "2.0")
        from gi.repository import Gtk
        self._config, self._drawable, self._region = config, drawable, region
        self.session = core.BridgeSession()  # one warm bridge for every preview
        self.renders, self._timer = LatestRender(), None
        self.image = Gtk.Image()
        side = dialog_layout.PREVIEW_SIDE
        width, height, _ = core.preview_size(region.width, region.height, side)
        self.image.set_size_request(width, height)  # its place is kept while it renders
        self.label = Gtk.Label(label="Preview")
        self.label.set_ellipsize(3)  # Pango.EllipsizeMode.END: one line, whatever it says
        self.label.set_max_width_chars(40)
        self.label.set_size_request(side, -1)
        self.widget = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        self.widget.pack_start(self.image, False, False, 0)
        self.widget.pack_start(self.label, False, False, 0)
        config.connect("notify", self._changed)

    # settings that do not change the preview (always the fast method, before blending)
    STILL = ("method", "preset", "balance", "keep-steps", "output", "opacity", "blend-mode")

    def _changed(self, _config, pspec):
        if pspec.name not in self.STILL:
            self.schedule()

    def say(self, text):
        self.label.set_text(text)
        self.label.set_tooltip_text(text)

    def schedule(self):
        if self._timer is None:
            self._timer = GLib.timeout_add(self.DELAY_MS, self._changes_settled)

    def _changes_settled(self):
        self._timer = None
        if self.renders.begin():
            self._start()
        return False

    def _start(self):
        import threading
        try:
            request = _request(self._config)
            image = self._drawable.get_image()
            _check_regions(image, self._drawable, request)
            region = _plan_region(image, self._drawable, request.wheres)
        except core.StylizeError as e:
            self._show(None, core.error_text(e))
            return
        self.say("Painting the preview…")
        worker = threading.Thread(target=self._render, args=(request, region))
        worker.daemon = True
        worker.start()

    def _render(self, request, region):
        from stylize_gimp import gimp3_preview
        try:
            result = gimp3_preview.render(self._drawable, region, request, self.session)
            GLib.idle_add(self._show, result, None)
        except core.StylizeError as e:
            GLib.idle_add(self._show, None, core.error_text(e))
        except Exception as e:  # noqa: BLE001 - the running render must end, or none follows
            GLib.idle_add(self._show, None, "The preview failed: %s" % e)

    def _show(self, result, error):
        from gi.repository import GdkPixbuf
        if error is not None:
            self.say(error)
        else:
            width, height, data = result
            pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(
                GLib.Bytes.new(data), GdkPixbuf.Colorspace.RGB, True, 8, width, height,
                width * 4)
            self.image.set_from_pixbuf(pixbuf)
            self.say("Preview (%dx%d, fast method)" % (width, height))
        if self.renders.end():  # settings changed meanwhile: render the newest now
            self._start()
        return False


def _dialog_ok(procedure, config, drawable=None, region=None):
    dialog, preview, _ = build_dialog(procedure, config, "Neural Style Transfer",
                                      dialog_layout.PAGES, drawable, region)
    if preview is not None:
        preview.schedule()
    ok = dialog.run()
    dialog.destroy()
    if preview is not None:
        preview.session.close()  # the preview's bridge ends with the dialog
    return ok


_SLIDERS = ("strength", "weight-2", "weight-3", "opacity", "stroke-scale", "balance")


def build_dialog(procedure, config, title, pages, drawable=None, region=None, gallery=True):
    """(dialog, live preview, gallery): the dialog not run yet; no preview without a
    drawable, no gallery without `gallery`.

    On top, side by side and of fixed sizes, the preview and the daemon's styles; below,
    the settings in notebook pages (dialog_layout.PAGES). Controls that do nothing with
    the current choices are greyed out (dialog_layout.sensitivity)."""
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import GimpUi, Gtk
    GimpUi.init(core.PROC_NAME)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
    shown = dialog_layout.shown_arguments(pages)
    for name in _SLIDERS:
        if name in shown:
            dialog.get_spin_scale(name, 1.0)  # sliders, not bare spin buttons
    if "stroke-scale" in shown:  # scripts may go up to 16
        strokes = dialog.get_spin_scale("stroke-scale", 1.0)
        strokes.set_scale_limits(core.MIN_STROKE_SCALE, core.DIALOG_MAX_STROKE_SCALE)
    for name, text in dialog_layout.NOTES.items():
        dialog.get_label(name, text, False, False)
    extras = {}
    for page_id, tab, names in pages:
        dialog.get_label(page_id + "-tab", tab, False, True)  # (text, markup, mnemonic)
        for row in names:
            if row in dialog_layout.ROWS:  # a style's Where and its channel side by side
                box = dialog.fill_box(row, list(dialog_layout.ROWS[row]))
                box.set_orientation(Gtk.Orientation.HORIZONTAL)
                box.set_spacing(12)
        page = dialog.fill_box(page_id, list(names))
        if page_id == "page-regions":
            extras[dialog_layout.SPLIT[0]] = _split_button(config, page)
    dialog.fill_notebook("sections", [page + "-tab" for page, _, _ in pages],
                         [page for page, _, _ in pages])  # fill_notebook_list in C
    dialog.fill(["sections"])
    top = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=12)
    preview = None
    if drawable is not None and region is not None:
        preview = _LivePreview(config, drawable, region)
        top.pack_start(preview.widget, False, False, 0)
    if gallery:
        from stylize_gimp import gimp3_gallery
        styles = gimp3_gallery.StyleGallery(config)
        top.pack_start(styles.widget, True, True, 0)
        styles.load()
    content = dialog.get_content_area()
    content.pack_start(top, False, False, 6)
    content.reorder_child(top, 0)
    top.show_all()
    _bind_sensitivity(dialog, config, shown, extras,
                      drawable.get_image() if drawable is not None else None)
    return dialog, preview, styles if gallery else None


def _split_button(config, page):
    """The common case in one click: style 1 inside the selection, style 2 outside."""
    from gi.repository import Gtk
    name, label, values = dialog_layout.SPLIT
    button = Gtk.Button.new_with_mnemonic(label)
    button.set_halign(Gtk.Align.START)

    def clicked(_button):
        for argument, value in sorted(values.items()):
            config.set_property(argument, value)

    button.connect("clicked", clicked)
    page.pack_start(button, False, False, 0)
    button.show()
    return button


def _dialog_values(config, names):
    values = {}
    for name in names:
        value = config.get_property(name)
        values[name] = _path(value) if isinstance(value, Gio.File) else value
    return values


def _bind_sensitivity(dialog, config, shown, extras, image):
    """Grey out what does nothing now (in place: opacity, blend mode; the fast method: the
    optimisation's settings; no second style: its weight, region and the third style;
    the split button without a selection). extras: widgets that are not arguments."""
    def update(*_):
        selected = image is not None and not Gimp.Selection.is_empty(image)
        values = dict(_dialog_values(config, shown), **{"has-selection": selected})
        for name, acts in dialog_layout.sensitivity(values).items():
            if name in extras:
                extras[name].set_sensitive(acts)
            elif name in shown:
                dialog.get_widget(name, GObject.TYPE_NONE).set_sensitive(acts)

    config.connect("notify", update)
    update()


def _layer_mode(blend_mode):
    members = dict((name, member) for name, _, member in core.BLEND_MODES)
    return getattr(Gimp.LayerMode, members[blend_mode])


def _apply_in_place(image, source, region, fmt, pixels):
    """The result over the source's own pixels, through its shadow buffer: GIMP merges
    it inside the selection (feathering included) as one undo step, like its filters."""
    w, h = region.width, region.height
    image.undo_group_start()
    try:
        shadow = source.get_shadow_buffer()
        shadow.set(Gegl.Rectangle.new(region.x, region.y, w, h), fmt.babl, pixels)
        shadow.flush()
        source.merge_shadow(True)
        source.update(region.x, region.y, w, h)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


def _place(image, layer, parent, position, region):
    """Insert `layer` at the region's place, masked by the selection when there is one."""
    image.insert_layer(layer, parent, position)
    layer.set_offsets(region.image_x, region.image_y)
    if region.masked:
        layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))


def _load_steps(image, steps):
    """The intermediate results as layers of `image`, not inserted yet (GIMP reads the
    PNGs). [] with a message when GIMP cannot read them: the result still goes in."""
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="stylize-steps-")
    layers = []
    try:
        for index, step in enumerate(steps):
            path = os.path.join(folder, "step-%02d.png" % index)
            with open(path, "wb") as f:
                f.write(step.png)
            layers.append(Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image,
                                               Gio.File.new_for_path(path)))
    except GLib.Error as e:
        Gimp.message("Stylize: the intermediate results could not be added (%s)." % e.message)
        for layer in layers:
            layer.delete()
        layers = []
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return layers


def _insert_steps(image, source, region, steps, layers):
    """A hidden layer group right above the source holding the steps, latest on top."""
    group = Gimp.GroupLayer.new(image, core.steps_group_name(source.get_name()))
    image.insert_layer(group, source.get_parent(), image.get_item_position(source))
    group.set_visible(False)  # the result shows as it would without the steps
    for step, layer in zip(steps, layers):
        layer.set_name(step.name(source.get_name()))
        _place(image, layer, group, 0, region)


def _insert_result(image, source, region, name, fmt, pixels, opacity, mode, steps=()):
    """New layer right above the source (and the steps' group below it), in one undo group."""
    w, h = region.width, region.height
    step_layers = _load_steps(image, steps) if steps else []
    image.undo_group_start()
    try:
        if step_layers:
            _insert_steps(image, source, region, steps, step_layers)
        layer = Gimp.Layer.new(image, name, w, h, source.type(), opacity, mode)
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, w, h), fmt.babl, pixels)
        buf.flush()
        position = image.get_item_position(source) - (1 if step_layers else 0)
        _place(image, layer, source.get_parent(), position, region)
        layer.update(0, 0, w, h)
    finally:
        image.undo_group_end()
    Gimp.displays_flush()


def run(procedure, run_mode, image, drawables, config, data):
    if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
        return _fail(procedure, Gimp.PDBStatusType.CALLING_ERROR, "Select exactly one layer.")
    source = drawables[0]
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:  # scripts too, not only menus
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.INDEXED_MESSAGE)
    try:
        region = _plan_region(image, source)
    except core.StylizeError as e:
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.error_text(e))
    if run_mode == Gimp.RunMode.INTERACTIVE and not _dialog_ok(procedure, config, source,
                                                               region):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        request = _request(config)
        _check_regions(image, source, request)
        region = _plan_region(image, source, request.wheres)
        depth = core.depth_of_precision(image.get_precision().value_nick)
        fmt = core.PixelFormat(image.get_base_type() == Gimp.ImageBaseType.GRAY,
                               source.has_alpha(), depth)
        from stylize_gimp import gimp3_preview
        gimp3_preview.read_regions(request, source, region, depth)  # the masks, full size
        rect = Gegl.Rectangle.new(region.x, region.y, region.width, region.height)
        pixels = source.get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)
        Gimp.progress_init("Neural style transfer")
        steps = []  # the optimisation's intermediate results, added only with the result
        result = core.stylize(pixels, region.width, region.height, fmt, request,
                              progress=_show_progress, on_step=steps.append)
    except core.StylizeError as e:
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.error_text(e))
    if request.output == "in-place":
        _apply_in_place(image, source, region, fmt, result)
    else:
        _insert_result(image, source, region, core.layer_name(source.get_name(), request),
                       fmt, result, request.opacity, _layer_mode(request.blend_mode), steps)
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


# -- animations: every layer a frame, one sequence, a new image ---------------------------


def _animation_request(config):
    return core.make_request(
        config.get_property("strength"), config.get_property("daemon-address"),
        [(_first_style(config), 1.0),
         (_path(config.get_property("style-2")), config.get_property("weight-2")),
         (_path(config.get_property("style-3")), config.get_property("weight-3"))],
        config.get_property("keep-colors"), config.get_property("color-match"),
        stroke_scale=config.get_property("stroke-scale"))


def _frame_layers(image):
    """The top-level layers, bottom first: GIMP plays the bottom layer first."""
    return list(reversed(image.get_layers()))


def _plan_frames(image, layers):
    specs = []
    for layer in layers:
        offsets = layer.get_offsets()  # (ok, x, y)
        specs.append((layer.get_name(), tuple(offsets[-2:]), layer.get_width(),
                      layer.get_height(), layer.has_alpha()))
    return animation.plan_frames(image.get_width(), image.get_height(), specs)


def _frames_image(image, plan, fmt, results):
    """A new image with the stylized frames as layers, named and stacked as the source's
    (so GIMP plays them, and exports them, with the same timings). Built with undo off,
    as GIMP's own Filters > Animation do: its history starts with the finished frames."""
    base = image.get_base_type()
    new = Gimp.Image.new_with_precision(plan.width, plan.height, base, image.get_precision())
    new.undo_disable()
    gray = base == Gimp.ImageBaseType.GRAY
    kind = {(False, False): Gimp.ImageType.RGB_IMAGE, (False, True): Gimp.ImageType.RGBA_IMAGE,
            (True, False): Gimp.ImageType.GRAY_IMAGE,
            (True, True): Gimp.ImageType.GRAYA_IMAGE}[(gray, plan.alpha)]
    for frame, pixels in zip(plan.frames, results):  # bottom first: each goes on top
        layer = Gimp.Layer.new(new, frame.name, frame.width, frame.height, kind, 100.0,
                               Gimp.LayerMode.NORMAL)
        new.insert_layer(layer, None, 0)
        layer.set_offsets(frame.x, frame.y)
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, frame.width, frame.height), fmt.babl,
                animation.off_canvas(pixels, frame, plan, fmt))
        buf.flush()
    new.undo_enable()
    return new


def run_animation(procedure, run_mode, image, drawables, config, data):
    if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.INDEXED_MESSAGE)
    layers = _frame_layers(image)
    try:
        plan = _plan_frames(image, layers)
    except core.StylizeError as e:
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.error_text(e))
    if run_mode == Gimp.RunMode.INTERACTIVE and not _animation_dialog_ok(procedure, config,
                                                                         len(layers)):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    fmt = core.PixelFormat(image.get_base_type() == Gimp.ImageBaseType.GRAY, plan.alpha,
                           core.depth_of_precision(image.get_precision().value_nick))

    def read_frame(frame):
        rect = Gegl.Rectangle.new(frame.read_x, frame.read_y, frame.width, frame.height)
        return layers[frame.index].get_buffer().get(rect, 1.0, fmt.babl, Gegl.AbyssPolicy.CLAMP)

    try:
        request = _animation_request(config)
        Gimp.progress_init("Stylizing %d frames" % len(layers))
        results = animation.stylize_frames(read_frame, plan, fmt, request,
                                           config.get_property("consistent"),
                                           progress=_show_progress)
    except core.StylizeError as e:
        return _fail(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, core.error_text(e))
    new = _frames_image(image, plan, fmt, results)
    if run_mode == Gimp.RunMode.INTERACTIVE:
        Gimp.Display.new(new)
        Gimp.displays_flush()
    return Gimp.ValueArray.new_from_values([
        GObject.Value(Gimp.PDBStatusType, Gimp.PDBStatusType.SUCCESS),
        GObject.Value(Gimp.Image, new),
    ])


def _animation_dialog_ok(procedure, config, count):
    dialog, _, _ = build_dialog(procedure, config, "Stylize Animation (%d frames)" % count,
                                dialog_layout.ANIMATION_PAGES)
    ok = dialog.run()
    dialog.destroy()
    return ok


def _create_animation(plugin, name):
    p = Gimp.ImageProcedure.new(plugin, name, Gimp.PDBProcType.PLUGIN, run_animation, None)
    p.set_image_types(core.IMAGE_TYPES)
    p.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE
                           | Gimp.ProcedureSensitivityMask.DRAWABLES
                           | Gimp.ProcedureSensitivityMask.NO_DRAWABLES)
    p.set_menu_label(animation.MENU_LABEL)
    p.add_menu_path(animation.MENU_PATH)
    p.set_documentation(animation.BLURB, animation.HELP + " " + core.GIMP3_PRECISION_HELP, name)
    p.set_attribution("Stylize contributors", "Apache-2.0", "2026")
    _add_style(p, "style-file", "_Style image", "Painting whose style is applied")
    p.add_double_argument("strength", "S_trength", core.STRENGTH_HELP, 0.0, 1.0, 1.0, RW)
    _add_style(p, "style-2", "Second style image", "Optional style mixed in")
    p.add_double_argument("weight-2", "Second style weight",
                          "Relative to the first style's 1: above 1 it outweighs it",
                          0.0, core.MAX_WEIGHT, 1.0, RW)
    _add_style(p, "style-3", "Third style image", "Optional style mixed in")
    p.add_double_argument("weight-3", "Third style weight",
                          "Relative to the first style's 1: above 1 it outweighs it",
                          0.0, core.MAX_WEIGHT, 1.0, RW)
    p.add_boolean_argument("keep-colors", "_Keep colours",
                           "Keep the layer's colours; take only the style's strokes and light",
                           False, RW)
    _add_choice(p, "color-match", "Colour _matching",
                "Paint in the layer's palette, or give it the style's palette",
                core.COLOR_MATCHES, core.COLOR_MATCH_LABELS)
    p.add_string_argument("style-name", "Library style",
                          "A named style of the daemon's library (the dialog's gallery; "
                          "`stylize styles list`); when set, it replaces Style image", "", RW)
    p.add_double_argument("stroke-scale", "Stroke si_ze", core.STROKE_SCALE_HELP,
                          core.MIN_STROKE_SCALE, core.MAX_STROKE_SCALE,
                          core.DEFAULT_STROKE_SCALE, RW)
    p.add_boolean_argument("consistent", "Steady strokes from _frame to frame",
                           animation.CONSISTENT_HELP, True, RW)
    p.add_string_argument("daemon-address", "Daemon address",
                          "host:port of `stylize serve` (blank: as installed)", "", RW)
    p.add_image_return_value("new-image", "New image", "The stylized frames", False, RW)
    return p


class StylizePlugIn(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False, None, None

    def do_query_procedures(self):
        return [core.PROC_NAME, animation.PROC_NAME]

    def do_create_procedure(self, name):
        Gegl.init(None)
        if name == animation.PROC_NAME:
            return _create_animation(self, name)
        p = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        p.set_image_types(core.IMAGE_TYPES)
        p.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        p.set_menu_label(core.MENU_LABEL)
        p.add_menu_path(core.MENU_PATH)
        p.set_documentation(core.BLURB, core.HELP + " " + core.GIMP3_PRECISION_HELP, name)
        p.set_attribution("Stylize contributors", "Apache-2.0", "2026")
        _add_style(p, "style-file", "_Style image", "Painting whose style is applied")
        p.add_double_argument("strength", "S_trength", core.STRENGTH_HELP, 0.0, 1.0, 1.0, RW)
        _add_style(p, "style-2", "Second style image", "Optional style mixed in")
        p.add_double_argument("weight-2", "Second style weight",
                              "Relative to the first style's 1: above 1 it outweighs it",
                              0.0, core.MAX_WEIGHT, 1.0, RW)
        _add_style(p, "style-3", "Third style image", "Optional style mixed in")
        p.add_double_argument("weight-3", "Third style weight",
                              "Relative to the first style's 1: above 1 it outweighs it",
                              0.0, core.MAX_WEIGHT, 1.0, RW)
        p.add_boolean_argument("keep-colors", "_Keep colours",
                               "Keep the layer's colours; take only the style's strokes and light",
                               False, RW)
        _add_choice(p, "color-match", "Colour _matching",
                    "Paint in the layer's palette, or give it the style's palette",
                    core.COLOR_MATCHES, core.COLOR_MATCH_LABELS)
        _add_choice(p, "output", "O_utput", core.OUTPUT_HELP, core.OUTPUTS, core.OUTPUT_LABELS)
        p.add_double_argument("opacity", "_Opacity", core.OPACITY_HELP, 0.0, 100.0, 100.0, RW)
        _add_choice(p, "blend-mode", "_Blend mode", "Blend mode of the new layer",
                    [m[0] for m in core.BLEND_MODES], [m[1] for m in core.BLEND_MODES])
        p.add_string_argument("style-name", "Library style",
                              "A named style of the daemon's library (the dialog's gallery; "
                              "`stylize styles list`); when set, it replaces Style image",
                              "", RW)
        p.add_double_argument("stroke-scale", "Stroke si_ze", core.STROKE_SCALE_HELP,
                              core.MIN_STROKE_SCALE, core.MAX_STROKE_SCALE,
                              core.DEFAULT_STROKE_SCALE, RW)
        p.add_string_argument("daemon-address", "Daemon address",
                              "host:port of `stylize serve` (blank: as installed)", "", RW)
        _add_method_arguments(p)
        _add_region_arguments(p)
        return p


def _add_choice(procedure, name, label, blurb, names, labels, default=None):
    choice = Gimp.Choice.new()
    for index, (value, text) in enumerate(zip(names, labels)):
        choice.add(value, index, text, "")
    procedure.add_choice_argument(name, label, blurb, choice, default or names[0], RW)


def _add_method_arguments(procedure):
    """The method and the optimisation's settings (core.METHODS, core.PRESETS)."""
    _add_choice(procedure, "method", "Metho_d", core.METHOD_HELP, core.METHODS,
                core.METHOD_LABELS)
    _add_choice(procedure, "preset", "_Refinement", core.PRESET_HELP, core.PRESETS,
                core.PRESET_LABELS, "good")
    procedure.add_double_argument("balance", "Style / content ba_lance", core.BALANCE_HELP,
                                  0.0, 1.0, 0.5, RW)
    procedure.add_int_argument("keep-steps", "_Intermediate results as layers",
                               core.KEEP_STEPS_HELP, 0, core.MAX_KEEP_STEPS, 0, RW)


def _add_region_arguments(procedure):
    """Where each style paints, and the strength map (core.WHERE; the Regions page)."""
    for n in (1, 2, 3):
        _add_choice(procedure, "region-%d" % n, "Style %d paints" % n, core.WHERE_HELP,
                    core.WHERE, core.WHERE_LABELS)
        procedure.add_channel_argument("region-channel-%d" % n, "in channel",
                                       "The saved channel style %d paints in (white: there)" % n,
                                       True, RW)
    procedure.add_channel_argument("strength-map", "Strength _map", core.STRENGTH_MAP_HELP,
                                   True, RW)


def _add_style(procedure, name, label, blurb):
    # OPEN: GIMP's own file chooser; GIMP validates a script's file before run() (a missing
    # file is GIMP's calling error; ANY would avoid that but breaks the dialog's chooser).
    procedure.add_file_argument(name, label, blurb, Gimp.FileChooserAction.OPEN, True, None,
                                RW)


if __name__ == "__main__":  # GIMP runs this file; tests import it to build the dialog
    Gimp.main(StylizePlugIn.__gtype__, sys.argv)

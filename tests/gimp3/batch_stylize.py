# Batch script run by real GIMP 3 (python-fu-eval) inside the test chroot.
# Reads /job/spec.json, runs python-fu-stylize non-interactively on real images and
# writes what the host-side test checks to $GIMP_OUT: per case <case>.json (status,
# message, layer stack, geometry, dirty flags) and raw pixel dumps <case>.<what>.bin;
# plus PNG exports for the README. Never raises for a failing case: the test decides.
import json
import os

from gi.repository import Gegl, Gimp, Gio

OUT = os.environ.get("GIMP_OUT", "/job/out")
with open("/job/spec.json") as spec_file:
    SPEC = json.load(spec_file)
PROC = Gimp.get_pdb().lookup_procedure("python-fu-stylize")
FMT = {
    Gimp.ImageBaseType.RGB: {False: "R'G'B' u8", True: "R'G'B'A u8"},
    Gimp.ImageBaseType.GRAY: {False: "Y' u8", True: "Y'A u8"},
}
# cases on deeper images: the precision they are converted to, and the type pixels are read in
DEEP = {
    "deep16": (Gimp.Precision.U16_NON_LINEAR, "u16"),
    "float32": (Gimp.Precision.FLOAT_LINEAR, "float"),
}


def log(*args):
    print("BATCH:", *args, flush=True)


def pixels(image, drawable, sample="u8"):
    base = image.get_base_type()
    fmt = FMT.get(base, FMT[Gimp.ImageBaseType.RGB])[drawable.has_alpha()]  # indexed: as RGB
    fmt = fmt.replace("u8", sample)
    rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
    return drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)


def dump(case, what, data):
    with open(os.path.join(OUT, f"{case}.{what}.bin"), "wb") as f:
        f.write(bytes(data))


def describe(layer):
    offsets = layer.get_offsets()
    parent = layer.get_parent()
    return {
        "name": layer.get_name(),
        "width": layer.get_width(),
        "height": layer.get_height(),
        "offsets": [offsets[-2], offsets[-1]],
        "has_alpha": layer.has_alpha(),
        "has_mask": layer.get_mask() is not None,
        "parent": parent.get_name() if parent else None,
        "opacity": layer.get_opacity(),
        "mode": layer.get_mode().value_nick,
        "visible": layer.get_visible(),
        "is_group": layer.is_group(),
    }


def load_photo(width, height):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["photo"]))
    image.scale(width, height)
    return image, image.get_layers()[0]


def make_case(case):
    """Build the image for a case; returns (image, source layer)."""
    image, layer = load_photo(96, 64)
    if case == "selection":
        image.resize(128, 96, 10, 6)  # source layer now at offsets (10, 6)
        group = Gimp.GroupLayer.new(image, "Group")
        image.insert_layer(group, None, 0)
        image.reorder_item(layer, group, 0)  # the source sits inside a group
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 16, 40, 30)
    elif case in ("inplace", "inplace_down"):
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 16, 40, 30)
    elif case == "alpha":
        layer.add_alpha()
        data = bytearray(pixels(image, layer))
        for i in range(3, len(data), 4):  # alpha varies across the layer
            data[i] = (i // 4 * 7) % 256
        buf = layer.get_buffer()
        buf.set(Gegl.Rectangle.new(0, 0, 96, 64), "R'G'B'A u8", bytes(data))
        buf.flush()
    elif case == "gray":
        image.convert_grayscale()
    elif case in DEEP:
        image.convert_precision(DEEP[case][0])
    elif case == "indexed":
        image.convert_indexed(
            Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, ""
        )
    return image, layer


STROKE_SCALES = {"strokes": 16.0, "fullres": 1.0 / 64}  # 96x64: a 64x43 painting, or 96x64


def run_case(case, address, style, style_name=""):
    in_place = case.startswith("inplace")
    image, source = make_case(case)
    sample = DEEP[case][1] if case in DEEP else "u8"
    layers_before = [describe(layer) for layer in stack(image)]
    dump(case, "source_before", pixels(image, source, sample))
    image.clean_all()
    config = PROC.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [source])
    if case == "missing":
        style = "/job/no-such-painting.jpg"
    config.set_property("style-file", Gio.File.new_for_path(style) if style else None)
    config.set_property("style-name", style_name)
    config.set_property("output", "in-place" if in_place else "new-layer")
    config.set_property("blend-mode", "soft-light" if case == "blend" else "normal")
    config.set_property("strength", 0.6 if case == "opacity" else 1.0)
    config.set_property("opacity", 40.0 if case == "opacity" else 100.0)
    config.set_property("daemon-address", address)
    config.set_property("keep-colors", case == "colors")
    config.set_property("color-match", "style" if case == "palette" else "none")
    if case in STROKE_SCALES:
        config.set_property("stroke-scale", STROKE_SCALES[case])
    optimize = case in ("optimize", "cancel")  # cancel: the host test kills the plug-in
    config.set_property("method", "optimize" if optimize else "fast")
    config.set_property("preset", "best" if case == "cancel" else "draft")
    config.set_property("keep-steps", 2 if case == "optimize" else 0)
    result = PROC.run(config)
    status = result.index(0)
    report = {
        "status": status.value_nick,
        "message": Gimp.get_pdb().get_last_error(),
        "dirty": image.is_dirty(),
        "layers_before": layers_before,
        "layers": [describe(layer) for layer in stack(image)],
        "precision": image.get_precision().value_nick,
    }
    dump(case, "source_after", pixels(image, source))
    if status == Gimp.PDBStatusType.SUCCESS:
        new = (
            source
            if in_place
            else next(layer for layer in stack(image) if layer.get_name().endswith(")"))
        )
        dump(case, "result", pixels(image, new, sample))
        if not in_place and new.get_mask() is not None:
            dump(case, "mask", pixels_mask(new.get_mask()))
        steps = [
            layer for layer in stack(image) if layer.get_name().split(": ")[-1][:9] == "iteration"
        ]
        for index, layer in enumerate(steps):
            dump(case, f"step{index}", pixels(image, layer))
        # a group end without a start fails: the plug-in left no undo group open
        report["undo_group_open"] = ended_open_group(image)
        export(image, case)
    with open(os.path.join(OUT, case + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    log(case, report["status"], report["message"])
    image.delete()


def ended_open_group(image):
    """True if an undo group was left open (ending one without a start fails)."""
    try:
        return bool(image.undo_group_end())
    except Exception:
        return False


def pixels_mask(mask):
    rect = Gegl.Rectangle.new(0, 0, mask.get_width(), mask.get_height())
    return mask.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)


def stack(image):
    """All layers, depth first, top to bottom."""
    out = []

    def walk(layers):
        for layer in layers:
            out.append(layer)
            if layer.is_group():
                walk(layer.get_children())

    walk(image.get_layers())
    return out


def export(image, case):
    copy = image.duplicate()
    copy.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
    path = os.path.join(OUT, case + ".png")
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, copy, Gio.File.new_for_path(path), None)
    copy.delete()


def run_preview(case, address, style):
    """The dialog's live-preview path, without the widget: a 3000x2000 layer read small
    by GEGL and rendered through the bridge and the daemon (gimp3_preview.render)."""
    import sys
    import time

    sys.path.insert(0, SPEC["plugin_dir"])
    from stylize_gimp import core, gimp3_preview

    image, layer = load_photo(3000, 2000)
    request = core.make_request(1.0, address, [(style, 1.0)])
    region = core.Region(0, 0, layer.get_width(), layer.get_height(), 0, 0, False)
    session = core.BridgeSession()  # as the dialog: one bridge for every preview
    try:
        started = time.time()
        width, height, data = gimp3_preview.render(layer, region, request, session)
        first = time.time() - started
        slider = core.make_request(0.5, address, [(style, 1.0)])  # a slider moved
        started = time.time()
        again = gimp3_preview.render(layer, region, slider, session)
        second = time.time() - started
        bridge = session._proc.pid if session._proc is not None else None
    finally:
        session.close()
    report = {
        "status": "success",
        "width": width,
        "height": height,
        "seconds": first,
        "second_seconds": second,
        "same_size_again": again[:2] == (width, height),
        "changed_by_the_slider": again[2] != data,
        "bridge_pid": bridge,
    }
    dump(case, "result", data)
    dump(case, "small", gimp3_preview.read_small(layer, region)[2])
    with open(os.path.join(OUT, case + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    log(case, report)
    image.delete()


def run_gallery(case, address):
    """The dialog's gallery data path, without the widget: the daemon's styles and their
    thumbnails through the bridge (core.list_styles), decoded by GdkPixbuf as the
    gallery shows them; then a run with the style picked from that list, by name."""
    import sys

    sys.path.insert(0, SPEC["plugin_dir"])
    from stylize_gimp import core, gimp3_gallery

    styles = core.list_styles(address, core.load_settings(), gimp3_gallery.THUMBNAIL_SIDE)
    shown = [gimp3_gallery.pixbuf(style.thumbnail) for style in styles]
    listing = {
        "names": [style.name for style in styles],
        "origins": [style.origin for style in styles],
        "pixbufs": [[p.get_width(), p.get_height()] for p in shown],
    }
    with open(os.path.join(OUT, case + ".gallery.json"), "w") as f:
        json.dump(listing, f, indent=1)
    pick = next(style.name for style in styles if style.name == SPEC["gallery_pick"])
    run_case(case, address, None, pick)


def run_animation(case, address, style):
    """A 3-frame animation (layers named with their timings, the photo panning) through
    python-fu-stylize-animation: a new image with the stylized frames, the source untouched."""
    image, photo = load_photo(56, 32)
    image.resize(48, 32, 0, 0)
    photo.set_name("Frame 1 (100ms)")
    for index in (1, 2):  # each frame the photo moved 4 px left; the bottom layer is frame 1
        frame = photo.copy()
        frame.set_name(f"Frame {index + 1} ({100 * (index + 1)}ms)")
        image.insert_layer(frame, None, 0)
        frame.set_offsets(-4 * index, 0)
    for layer in image.get_layers():
        layer.resize(48, 32, layer.get_offsets()[-2], 0)  # frames of the canvas's size
    frames = list(reversed(image.get_layers()))
    layers_before = [describe(layer) for layer in stack(image)]
    for index, layer in enumerate(frames):
        dump(case, f"frame{index}_before", pixels(image, layer))
    image.clean_all()
    proc = Gimp.get_pdb().lookup_procedure("python-fu-stylize-animation")
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", [])
    config.set_property("style-file", Gio.File.new_for_path(style))
    config.set_property("daemon-address", address)
    result = proc.run(config)
    status = result.index(0)
    report = {
        "status": status.value_nick,
        "message": Gimp.get_pdb().get_last_error(),
        "dirty": image.is_dirty(),
        "layers_before": layers_before,
        "layers": [describe(layer) for layer in stack(image)],
        "images": len(Gimp.get_images()),
    }
    for index, layer in enumerate(frames):
        dump(case, f"frame{index}_after", pixels(image, layer))
    if status == Gimp.PDBStatusType.SUCCESS:
        new = result.index(1)
        report["new_layers"] = [describe(layer) for layer in stack(new)]
        report["new_size"] = [new.get_width(), new.get_height()]
        report["new_dirty"] = new.is_dirty()
        report["new_undo_enabled"] = new.undo_is_enabled()
        for index, layer in enumerate(reversed(new.get_layers())):
            dump(case, f"frame{index}_result", pixels(new, layer))
        new.delete()
    with open(os.path.join(OUT, case + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    log(case, report["status"], report["message"])
    image.delete()


LEFT = (10, 6, 48, 64)  # the layer's left half, in image coordinates
RIGHT = (58, 6, 48, 64)


def regions_image():
    """The photo (96x64) at offsets (10, 6) of a 116x76 canvas: masks are cropped to it."""
    image, layer = load_photo(96, 64)
    image.resize(116, 76, 10, 6)
    return image, layer


def saved_channel(image, rect, name):
    """A saved channel, white over `rect` (Select > Save to Channel), nothing selected after."""
    image.select_rectangle(Gimp.ChannelOps.REPLACE, *rect)
    channel = Gimp.Selection.save(image)
    channel.set_name(name)
    Gimp.Selection.none(image)
    return channel


def run_regions(case, address):
    """Regions read from GIMP: each case paints the photo once with its regions and dumps
    the result ("regions_alone" dumps each style alone, for the host to compare)."""
    image, layer = regions_image()
    settings = {"style-file": Gio.File.new_for_path(SPEC["style"]), "daemon-address": address}
    second = {"style-2": Gio.File.new_for_path(SPEC["style2"]), "weight-2": 1.0}
    if case == "regions_split":
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *LEFT)
        settings.update(second, **{"region-1": "inside", "region-2": "outside"})
    elif case == "regions_channel":
        settings.update(
            second,
            **{
                "region-1": "channel",
                "region-2": "channel",
                "region-channel-1": saved_channel(image, LEFT, "Left"),
                "region-channel-2": saved_channel(image, RIGHT, "Right"),
            },
        )
    elif case == "regions_layermask":
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *LEFT)
        layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        Gimp.Selection.none(image)
        settings.update(second, **{"region-1": "layer-mask"})  # style 2 everywhere
    elif case == "regions_strength":
        settings["strength-map"] = saved_channel(image, LEFT, "Strength")
    elif case == "regions_empty":
        settings.update(second, **{"region-1": "inside", "region-2": "outside"})
    runs = [("alone_a", {}), ("alone_b", {"style-file": second["style-2"]})]
    if case != "regions_alone":
        runs = [("result", {})]
    image.clean_all()
    report = {"layers_before": [describe(item) for item in stack(image)]}
    for what, changes in runs:
        config = PROC.create_config()
        config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        config.set_property("image", image)
        config.set_core_object_array("drawables", [layer])
        for name, value in dict(settings, **changes).items():
            config.set_property(name, value)
        status = PROC.run(config).index(0)
        report.update(
            status=status.value_nick,
            message=Gimp.get_pdb().get_last_error(),
            dirty=image.is_dirty(),
            layers=[describe(item) for item in stack(image)],
        )
        if status == Gimp.PDBStatusType.SUCCESS:
            new = next(item for item in stack(image) if item.get_name().endswith(")"))
            report[what] = describe(new)
            dump(case, what, pixels(image, new))
            report["undo_group_open"] = ended_open_group(image)
            image.remove_layer(new)
    with open(os.path.join(OUT, case + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    log(case, report["status"], report["message"])
    image.delete()


def run_regions_preview(case, address):
    """The live preview with style 1 inside the selection and style 2 outside, beside each
    style alone: the masks are read small with the layer (gimp3_preview.render)."""
    import sys

    sys.path.insert(0, SPEC["plugin_dir"])
    from stylize_gimp import core, gimp3_preview

    image, layer = load_photo(600, 400)
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 300, 400)
    region = core.Region(0, 0, 600, 400, 0, 0, False)
    styles = [(SPEC["style"], 1.0), (SPEC["style2"], 1.0)]
    requests = {
        "alone_a": core.make_request(1.0, address, styles[:1]),
        "alone_b": core.make_request(1.0, address, styles[1:]),
        "result": core.make_request(
            1.0, address, styles, wheres=[core.Where("inside"), core.Where("outside")]
        ),
    }
    session = core.BridgeSession()
    report = {"status": "success"}
    try:
        for what, request in requests.items():
            width, height, data = gimp3_preview.render(layer, region, request, session)
            report[what] = [width, height]
            dump(case, what, data)
    finally:
        session.close()
    with open(os.path.join(OUT, case + ".json"), "w") as f:
        json.dump(report, f, indent=1)
    log(case, report)
    image.delete()


for case in SPEC["cases"]:
    address = SPEC["down_address"] if case.endswith("down") else SPEC["address"]
    try:
        if case == "animation":
            run_animation(case, address, SPEC["style"])
            continue
        if case == "preview":
            run_preview(case, address, SPEC["style"])
            continue
        if case == "gallery":
            run_gallery(case, address)
            continue
        if case == "regions_preview":
            run_regions_preview(case, address)
            continue
        if case.startswith("regions"):
            run_regions(case, address)
            continue
        run_case(case, address, SPEC["style"])
    except Exception as e:  # report, keep going with the other cases
        log(case, "batch error", repr(e))
        with open(os.path.join(OUT, case + ".json"), "w") as f:
            json.dump({"status": "batch-error", "message": repr(e)}, f)

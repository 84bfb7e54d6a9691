# Batch script run by real GIMP 3 (python-fu-eval) inside the test chroot, with Xvfb: builds
# the plug-in's dialogs (the still filter's and the animation's) exactly as the entry does,
# without running them, and writes their sizes and states to $GIMP_OUT/dialog.json: the
# natural height, and whether the size stays put while the gallery loads, the preview
# renders, a style is picked, a tab changes; which controls are greyed out.
import importlib.util
import json
import os
import subprocess
import time
import traceback

from gi.repository import Gimp, Gio, GObject

OUT = os.environ.get("GIMP_OUT", "/job/out")
with open("/job/spec.json") as spec_file:
    SPEC = json.load(spec_file)
report = {}


def settle(gtk, seconds):
    end = time.time() + seconds
    while time.time() < end:
        while gtk.events_pending():
            gtk.main_iteration_do(False)
        time.sleep(0.02)


def size(dialog):
    """[minimum height, natural height, minimum width, natural width]."""
    return list(dialog.get_preferred_height()) + list(dialog.get_preferred_width())


def wait(gtk, done, seconds):
    end = time.time() + seconds
    while not done() and time.time() < end:
        settle(gtk, 0.1)
    return done()


def find_button(gtk, widget, label):
    """The button showing `label` (a mnemonic label) inside `widget`."""
    if isinstance(widget, gtk.Button) and widget.get_label() == label:
        return widget
    children = widget.get_children() if isinstance(widget, gtk.Container) else []
    for child in children:
        found = find_button(gtk, child, label)
        if found is not None:
            return found
    return None


def snapshot(dialog, name):
    """The dialog as it shows (Xvfb has no window manager: no title bar) as a PNG."""
    from gi.repository import Gdk

    window = dialog.get_window()
    shot = Gdk.pixbuf_get_from_window(window, 0, 0, window.get_width(), window.get_height())
    shot.savev(os.path.join(OUT, name), "png", [], [])


def measure(entry, gtk):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["photo"]))
    image.scale(384, 256)
    layer = image.get_layers()[0]
    proc = Gimp.get_pdb().lookup_procedure("python-fu-stylize")
    config = proc.create_config()
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    config.set_property("daemon-address", SPEC["address"])
    config.set_property("style-file", Gio.File.new_for_path(SPEC["style"]))
    region = entry._plan_region(image, layer)
    dialog, preview, gallery = entry.build_dialog(
        proc, config, "Neural Style Transfer", entry.dialog_layout.PAGES, layer, region
    )
    widget = lambda name: dialog.get_widget(name, GObject.TYPE_NONE)  # noqa: E731
    dialog.show()
    settle(gtk, 0.5)
    report["first"] = size(dialog)
    report["tiles"] = wait(gtk, lambda: len(gallery._tiles) > 3, 60) and len(gallery._tiles)
    settle(gtk, 0.3)
    report["gallery_loaded"] = size(dialog)
    preview.schedule()
    report["preview"] = wait(gtk, lambda: preview.label.get_text().startswith("Preview ("), 60)
    report["preview_label"] = preview.label.get_text()
    report["preview_shown"] = size(dialog)
    sensitive = lambda: {n: widget(n).get_sensitive() for n in SENSITIVE}  # noqa: E731
    report["sensitive_default"] = sensitive()
    config.set_property("output", "in-place")
    config.set_property("method", "optimize")
    settle(gtk, 0.3)
    report["sensitive_in_place_optimize"] = sensitive()
    split = find_button(gtk, dialog, entry.dialog_layout.SPLIT[1])
    report["split_without_selection"] = split.get_sensitive()
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 0, 0, 192, 256)
    config.set_property("style-2", Gio.File.new_for_path(SPEC["style"]))
    settle(gtk, 0.3)
    report["sensitive_second_style"] = sensitive()
    report["split_with_selection"] = split.get_sensitive()
    split.clicked()  # the common case in one click
    settle(gtk, 0.3)
    report["after_split"] = [config.get_property("region-1"), config.get_property("region-2")]
    report["sensitive_after_split"] = sensitive()
    config.set_property("output", "new-layer")
    preview.schedule()  # the preview paints the two regions
    settle(gtk, 0.5)
    report["split_preview"] = (
        wait(gtk, lambda: preview.label.get_text().startswith("Preview ("), 60)
        and preview.label.get_text()
    )
    gallery._picked(gallery.flow, gallery._tiles[SPEC["gallery_pick"]])
    settle(gtk, 0.3)
    cleared = config.get_property("style-file") is None
    report["picked"] = [config.get_property("style-name"), cleared]
    report["after_pick"] = size(dialog)
    notebook = widget("sections")
    report["tabs"] = []
    for page in range(notebook.get_n_pages()):
        notebook.set_current_page(page)
        settle(gtk, 0.2)
        report["tabs"].append(size(dialog))
        if entry.dialog_layout.PAGES[page][0] == "page-regions":
            snapshot(dialog, "dialog-regions.png")  # for gimp_plugin/README.md
    dialog.destroy()
    preview.session.close()
    animation = Gimp.get_pdb().lookup_procedure("python-fu-stylize-animation")
    config = animation.create_config()
    config.set_property("image", image)
    config.set_property("daemon-address", SPEC["address"])
    dialog, _, gallery = entry.build_dialog(
        animation, config, "Stylize Animation", entry.dialog_layout.ANIMATION_PAGES
    )
    dialog.show()
    wait(gtk, lambda: len(gallery._tiles) > 3, 60)
    settle(gtk, 0.3)
    report["animation"] = size(dialog)
    dialog.destroy()
    image.delete()


SENSITIVE = (
    "strength",
    "opacity",
    "blend-mode",
    "preset",
    "balance",
    "keep-steps",
    "weight-2",
    "style-3",
    "weight-3",
    "region-2",
    "region-channel-1",
)
xvfb = None
try:
    xvfb = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "1920x1080x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(2)
    os.environ["DISPLAY"] = ":97"
    import gi

    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    path = os.path.join(SPEC["plugin_dir"], "stylize-neural-style.py")
    spec = importlib.util.spec_from_file_location("stylize_entry", path)
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)  # not __main__: it does not start a plug-in
    measure(entry, Gtk)
except FileNotFoundError as e:
    report["skip"] = f"no Xvfb in the chroot: {e}"
except Exception:
    report["error"] = traceback.format_exc()
finally:
    if xvfb is not None:
        xvfb.kill()
    with open(os.path.join(OUT, "dialog.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("BATCH: dialog", json.dumps(report)[:3000], flush=True)

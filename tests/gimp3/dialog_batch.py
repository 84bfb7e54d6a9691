# Opens the plug-in dialog (INTERACTIVE run) in GUI GIMP 3 for dialog_screenshot.sh.
import json

from gi.repository import Gimp, Gio

with open("/job/spec.json") as spec_file:
    spec = json.load(spec_file)
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(spec["photo"]))
image.scale(384, 256)
Gimp.Display.new(image)
Gimp.displays_flush()
proc = Gimp.get_pdb().lookup_procedure("python-fu-stylize")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", image.get_layers())
config.set_property("style-file", Gio.File.new_for_path(spec["style"]))
config.set_property("style-name", spec.get("style_name", ""))  # picked in the gallery
config.set_property("strength", 0.8)
config.set_property("daemon-address", spec.get("address", ""))  # a live daemon: the preview
proc.run(config)

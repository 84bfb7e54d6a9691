# Before/after pictures for gimp_plugin/README.md, made by real GIMP 3 (not a test):
#   tests/gimp3/chroot.sh run tests/gimp3/demo_batch.py OUT   (after the real-GIMP test
#   installed the plug-in and wrote /job/spec.json; a daemon must listen at spec "address")
import json
import os

from gi.repository import Gimp, Gio

OUT = os.environ.get("GIMP_OUT", "/job/out")
with open("/job/spec.json") as spec_file:
    SPEC = json.load(spec_file)
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(SPEC["photo"]))
image.scale(384, 256)
source = image.get_layers()[0]


def save(name):
    path = Gio.File.new_for_path(os.path.join(OUT, name))
    Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, path, None)


save("before.png")
image.select_ellipse(Gimp.ChannelOps.REPLACE, 40, 10, 300, 236)
proc = Gimp.get_pdb().lookup_procedure("python-fu-stylize")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", [source])
config.set_property("style-file", Gio.File.new_for_path(SPEC["style"]))
config.set_property("strength", 1.0)
config.set_property("daemon-address", SPEC["address"])
status = proc.run(config).index(0)
print("DEMO:", status, [layer.get_name() for layer in image.get_layers()], flush=True)
image.merge_visible_layers(Gimp.MergeType.CLIP_TO_IMAGE)
save("after.png")

# -*- coding: utf-8 -*-
"""GIMP 3 only: the dialog's style gallery, the daemon's named styles as thumbnails.

Picking a thumbnail sets the procedure's "style-name" (the style travels by name, so
it works with a daemon on another machine); choosing a file in the chooser clears it,
so the last choice wins. "Add to library" sends the chosen file to the daemon's
library (AddStyle) and selects it. Daemon calls run on worker threads; widgets are
touched only from GTK's main loop. Imported lazily by the GIMP 3 entry.
"""
import threading

from . import core, dialog_layout

THUMBNAIL_SIDE = 96  # pixels; the daemon makes them (ListStyles)
COLUMNS = 5


def pixbuf(jpeg):
    """A GdkPixbuf from the thumbnail's JPEG bytes."""
    from gi.repository import GdkPixbuf
    loader = GdkPixbuf.PixbufLoader()
    loader.write(jpeg)
    loader.close()
    return loader.get_pixbuf()


def _in_background(work, done):
    """Run work() on a thread, then done(result, error_text) in the main loop."""
    from gi.repository import GLib

    def run():
        try:
            result, error = work(), None
        except core.StylizeError as e:
            result, error = None, core.error_text(e)
        GLib.idle_add(lambda: done(result, error) and False)

    worker = threading.Thread(target=run)
    worker.daemon = True
    worker.start()


class StyleGallery(object):
    """The gallery widget (self.widget) bound to the procedure config."""

    def __init__(self, config, settings=None):
        from gi.repository import Gtk
        self._config, self._settings = config, settings
        self._tiles = {}  # style name -> Gtk.FlowBoxChild
        self._picking = False  # True while we set style-name ourselves
        self._file = self._chosen_path()  # the dialog's widgets re-announce it: not a choice
        self.flow = Gtk.FlowBox()
        self.flow.set_selection_mode(Gtk.SelectionMode.SINGLE)
        self.flow.set_max_children_per_line(COLUMNS)
        self.flow.set_homogeneous(True)
        self.flow.set_valign(Gtk.Align.START)  # rows keep their height in a tall window
        self.flow.connect("child-activated", self._picked)
        scrolled = Gtk.ScrolledWindow()
        self.flow.set_min_children_per_line(3)
        scrolled.set_policy(Gtk.PolicyType.NEVER, Gtk.PolicyType.AUTOMATIC)
        height = dialog_layout.GALLERY_ROWS * dialog_layout.GALLERY_ROW
        scrolled.set_min_content_height(height)  # fixed: the dialog keeps its size while the
        scrolled.set_max_content_height(height)  # styles load, then it scrolls
        scrolled.set_propagate_natural_width(True)
        scrolled.add(self.flow)
        self.status = Gtk.Label(label="Loading the daemon's styles…")
        self.status.set_xalign(0.0)
        self.status.set_ellipsize(3)  # Pango.EllipsizeMode.END: one line; all of it in the tooltip
        self.status.set_max_width_chars(30)
        self.add_button = Gtk.Button(label="Add the chosen file to the library")
        self.add_button.connect("clicked", lambda _: self.add_chosen_file())
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
        row.pack_start(self.status, True, True, 0)
        row.pack_end(self.add_button, False, False, 0)
        box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=4)
        box.pack_start(scrolled, True, True, 0)
        box.pack_start(row, False, False, 0)
        self.widget = Gtk.Frame(label="Styles of the daemon (click one, or choose a file)")
        self.widget.add(box)
        config.connect("notify::style-file", lambda *_: self._file_chosen())

    def _address(self):
        return self._config.get_property("daemon-address")

    def load(self):
        """Fetch the daemon's styles in the background and show them."""
        address = self._address()
        _in_background(lambda: core.list_styles(address, self._settings, THUMBNAIL_SIDE),
                       self._fill)

    def _fill(self, styles, error):
        if error is not None:
            self.say(error)
            return
        for style in styles:
            self._add_tile(style)
        self.flow.show_all()
        chosen = self._config.get_property("style-name")
        if chosen in self._tiles:
            self.flow.select_child(self._tiles[chosen])
        self._say_chosen()

    def _add_tile(self, style):
        from gi.repository import Gtk
        tile = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=2)
        if style.thumbnail:
            tile.pack_start(Gtk.Image.new_from_pixbuf(pixbuf(style.thumbnail)), False, False, 0)
        label = Gtk.Label(label=style.name)
        label.set_max_width_chars(12)
        label.set_ellipsize(3)  # Pango.EllipsizeMode.END
        tile.pack_start(label, False, False, 0)
        tile.set_tooltip_text("%s (%s, %dx%d)%s" % (
            style.name, style.origin, style.width, style.height,
            "\n" + style.error if style.error else ""))
        child = Gtk.FlowBoxChild()
        child.add(tile)
        child.style_name = style.name
        self.flow.add(child)
        self._tiles[style.name] = child
        return child

    def _picked(self, flow, child):
        self._picking = True
        try:
            self._config.set_property("style-name", child.style_name)
            # the chooser shows no other file: one style is chosen, and it is this one
            self._config.set_property("style-file", None)
            self._file = None
        finally:
            self._picking = False
        self._say_chosen()

    def _chosen_path(self):
        chosen = self._config.get_property("style-file")
        return chosen.get_path() if chosen is not None else None

    def _file_chosen(self):
        path = self._chosen_path()
        if self._picking or path is None or path == self._file:
            return
        self._file = path
        self._config.set_property("style-name", "")
        self.flow.unselect_all()
        self._say_chosen()

    def say(self, text):
        self.status.set_text(text)
        self.status.set_tooltip_text(text)

    def _say_chosen(self):
        name = self._config.get_property("style-name")
        self.say("Style: %s (from the daemon's library)" % name if name else
                 "Style: the chosen file")

    def add_chosen_file(self):
        """Send the file chosen in the file chooser to the daemon's library."""
        path = self._chosen_path()
        if not path:
            self.say("Choose a style file first, then add it to the library.")
            return
        self.say("Adding %s to the library…" % core.library_name(path))
        address = self._address()
        _in_background(lambda: core.add_style(path, None, address, self._settings), self._added)

    def _added(self, style, error):
        if error is not None:
            self.say(error)
            return
        child = self._add_tile(style)
        self.flow.show_all()
        self.flow.select_child(child)
        self._picked(self.flow, child)

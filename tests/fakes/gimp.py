"""Fake `gimp` module (GIMP 2.10 pygimp) that behaves like the real API where we rely on it.

Modelled on plug-ins/pygimp/{gimpmodule.c, pygimp-image.c, pygimp-drawable.c,
pygimp-tile.c, pygimp-pdb.c} (see shared/reference/gimp-plugin-notes.md §1, §4.2):

* PixelRgn: 2-tuple keys in *drawable* coordinates; reads return bytes of exactly
  w*h*bpp; assignment takes only bytes (`str` in Python 2) of exactly the right length
  (TypeError otherwise); writes through a region made with dirty=False are lost; writes
  reach the core only on drawable.flush(); shadow writes only on merge_shadow().
* drawable.mask_intersect() raises gimp.error when the selection misses the drawable.
* pdb: only the procedures below exist; unknown names raise AttributeError.
* Undo: every change to an image is recorded; changes inside undo_group_start/end form
  one step (empty groups vanish, as in GIMP), others one step each. `image.undo_steps`.
"""

import gimpenums as _e


class error(RuntimeError):
    """pygimp's gimp.error."""


_BPP = {
    _e.RGB_IMAGE: 3,
    _e.RGBA_IMAGE: 4,
    _e.GRAY_IMAGE: 1,
    _e.GRAYA_IMAGE: 2,
    _e.INDEXED_IMAGE: 1,
    _e.INDEXEDA_IMAGE: 2,
}
_BASE = {
    _e.RGB_IMAGE: _e.RGB,
    _e.RGBA_IMAGE: _e.RGB,
    _e.GRAY_IMAGE: _e.GRAY,
    _e.GRAYA_IMAGE: _e.GRAY,
    _e.INDEXED_IMAGE: _e.INDEXED,
    _e.INDEXEDA_IMAGE: _e.INDEXED,
}

directory = "/tmp/fake-gimp-2.10"
plug_in_directory = "/usr/lib/gimp/2.0/plug-ins"
version = (2, 10, 34)


class _State(object):
    """What the plug-in showed the user: messages, progress calls, display flushes."""

    def __init__(self):
        self.messages = []
        self.progress = []  # ("init", text) / ("update", fraction) / ("text", text) / ("end",)
        self.flushes = 0
        self.next_id = 1
        self.displays = []  # images a display was opened for
        self.batch = False  # True: no displays, as `gimp -i` (gimp.Display raises)


state = _State()


def reset():
    """Forget messages, progress and flushes (between tests)."""
    global state
    state = _State()


def _new_id():
    state.next_id += 1
    return state.next_id


def _check_type(value, types, what):
    """pygimp's argument parsing: wrong Python types raise TypeError."""
    if not isinstance(value, types):
        raise TypeError("wrong type for %s: %r" % (what, value))


# --- module functions --------------------------------------------------------------


def message(msg):
    _check_type(msg, str, "message")
    state.messages.append(msg)


def progress_init(msg=None):
    state.progress.append(("init", msg))


def progress_update(fraction):
    _check_type(fraction, (int, float), "fraction")
    state.progress.append(("update", float(fraction)))


def displays_flush():
    state.flushes += 1


def tile_width():
    return 64


def tile_height():
    return 64


def main(init, quit, query, run):
    """gimp.main(): the real one talks to GIMP over the wire; nothing to do here."""


# --- images ------------------------------------------------------------------------


class Display(object):
    """gimp.Display(image): opens a display; in batch mode (no UI) GIMP refuses."""

    def __init__(self, image):
        _check_type(image, Image, "image")
        if state.batch:
            raise error("Procedure 'gimp-display-new' returned no return values")
        self.ID = _new_id()
        self.image = image
        state.displays.append(image)


class Image(object):
    """gimp.Image(width, height, type=RGB)."""

    def __init__(self, width, height, type=_e.RGB):
        _check_type(width, int, "width")
        _check_type(height, int, "height")
        if width <= 0 or height <= 0 or type not in (_e.RGB, _e.GRAY, _e.INDEXED):
            raise error("could not create image")
        self.ID = _new_id()
        self.width, self.height, self.base_type = width, height, type
        self._layers = []
        self._selection = None  # (x1, y1, x2, y2) in image coordinates, or None
        self._undo = []
        self._open_group = None
        self._group_depth = 0
        self._undo_enabled = True
        self.active_layer = None
        self.filename = None

    @property
    def layers(self):
        return list(self._layers)

    @property
    def active_drawable(self):
        return self.active_layer

    @property
    def undo_steps(self):
        """The undo stack: a list of steps, each a list of change names."""
        return [list(step) for step in self._undo]

    def _record(self, change):
        if not self._undo_enabled:
            return  # gimp_image_undo_disable: nothing goes on the undo stack
        if self._group_depth:
            self._open_group.append(change)
        else:
            self._undo.append([change])

    def disable_undo(self):
        """image.disable_undo() (gimp_image_undo_disable); returns success."""
        self._undo_enabled = False
        return True

    def enable_undo(self):
        self._undo_enabled = True
        return True

    def undo_is_enabled(self):
        return self._undo_enabled

    def undo_group_start(self):
        if self._group_depth == 0:
            self._open_group = []
        self._group_depth += 1

    def undo_group_end(self):
        if self._group_depth == 0:
            raise RuntimeError("execution error: no undo group to end")
        self._group_depth -= 1
        if self._group_depth == 0:
            if self._open_group:
                self._undo.append(self._open_group)
            self._open_group = None

    def insert_layer(self, layer, parent=None, position=-1):
        _check_type(layer, Layer, "layer")
        if layer.image is not self:
            raise error("layer belongs to another image")
        if layer._attached:
            raise error("layer is already in the image")
        if _BASE[layer.type] != self.base_type:
            raise error(
                "Procedure 'gimp-image-insert-layer' has been called with a wrong "
                "value type for argument 'layer' (layer type does not match the image)"
            )
        siblings = parent._children if parent is not None else self._layers
        if parent is not None and not (isinstance(parent, GroupLayer) and parent._attached):
            raise error("parent is not a layer group of this image")
        if position < 0:
            position = self._active_position(siblings)
        siblings.insert(min(position, len(siblings)), layer)
        layer._parent = parent
        layer._attached = True
        self.active_layer = layer
        self._record("insert layer %s" % layer.name)

    def _active_position(self, siblings):
        """position -1: above the active layer when it is in the same stack, else top."""
        if self.active_layer in siblings:
            return siblings.index(self.active_layer)
        return 0

    def add_layer(self, layer, position=-1):
        self.insert_layer(layer, None, position)

    def all_layers(self):
        """Every layer, depth first (test helper, not pygimp API)."""
        out = []

        def walk(layers):
            for layer in layers:
                out.append(layer)
                if isinstance(layer, GroupLayer):
                    walk(layer._children)

        walk(self._layers)
        return out

    @property
    def selection(self):
        """The selection channel (pygimp's image.selection): image-sized, 255 inside the
        selection, 0 elsewhere, all 0 when nothing is selected."""
        channel = Channel(self, "Selection Mask", self.width, self.height)
        if self._selection is not None:
            x1, y1, x2, y2 = self._selection
            for y in range(y1, y2):
                channel._data[y * self.width + x1 : y * self.width + x2] = b"\xff" * (x2 - x1)
        return channel

    def _in_selection(self, x, y):
        s = self._selection
        return s is None or (s[0] <= x < s[2] and s[1] <= y < s[3])


# --- drawables ---------------------------------------------------------------------


class Drawable(object):
    def __init__(self, image, name, width, height, type):
        _check_type(image, Image, "image")
        _check_type(name, str, "name")
        _check_type(width, int, "width")
        _check_type(height, int, "height")
        _check_type(type, int, "type")
        if width <= 0 or height <= 0 or type not in _BPP:
            raise error("could not create drawable")
        self.ID = _new_id()
        self.image, self.name, self.width, self.height, self.type = image, name, width, height, type
        self._data = bytearray(width * height * _BPP[type])  # what GIMP's core holds
        self._cache = None  # plug-in side tiles written but not flushed
        self._shadow = None  # shadow buffer in the core
        self._shadow_cache = None
        self._offsets = (0, 0)
        self._attached = False
        self.updates = []

    bpp = property(lambda self: _BPP[self.type])
    has_alpha = property(
        lambda self: self.type in (_e.RGBA_IMAGE, _e.GRAYA_IMAGE, _e.INDEXEDA_IMAGE)
    )
    is_rgb = property(lambda self: _BASE[self.type] == _e.RGB)
    is_gray = property(lambda self: _BASE[self.type] == _e.GRAY)
    is_indexed = property(lambda self: _BASE[self.type] == _e.INDEXED)
    offsets = property(lambda self: self._offsets)

    def get_pixel_rgn(self, x, y, width, height, dirty=True, shadow=False):
        return PixelRgn(self, x, y, width, height, dirty, shadow)

    def _intersection(self):
        """(x, y, w, h) of selection ∩ drawable in drawable coordinates, or None."""
        ox, oy = self._offsets
        s = self.image._selection or (ox, oy, ox + self.width, oy + self.height)
        x1, y1 = max(s[0], ox), max(s[1], oy)
        x2, y2 = min(s[2], ox + self.width), min(s[3], oy + self.height)
        if x2 <= x1 or y2 <= y1:
            return None
        return (x1 - ox, y1 - oy, x2 - x1, y2 - y1)

    def mask_intersect(self):
        found = self._intersection()
        if found is None:
            raise error("could not get intersection information on drawable (ID %d)" % self.ID)
        return found

    @property
    def mask_bounds(self):
        found = self._intersection() or (0, 0, self.width, self.height)
        return (found[0], found[1], found[0] + found[2], found[1] + found[3])

    def flush(self):
        """Send written tiles to the core."""
        if self._cache is not None:
            self._data[:] = self._cache
            self._cache = None
            self._changed("pixels")
        if self._shadow_cache is not None:
            self._shadow = self._shadow_cache
            self._shadow_cache = None

    def merge_shadow(self, undo=False):
        if self._shadow is None:
            raise error("no shadow data to merge")
        self._data[:] = self._shadow
        self._shadow = None
        self._changed("merge shadow")

    def update(self, x, y, width, height):
        self.updates.append((x, y, width, height))

    def _changed(self, what):
        if self._attached:
            self.image._record("%s of %s" % (what, self.name))

    def pixels(self):
        """Bytes GIMP's core holds for this drawable (test helper, not pygimp API)."""
        return bytes(self._data)


class Layer(Drawable):
    """gimp.Layer(image, name, width, height, type=RGB_IMAGE, opacity=100.0, mode=NORMAL)."""

    def __init__(
        self, image, name, width, height, type=_e.RGB_IMAGE, opacity=100.0, mode=_e.NORMAL_MODE
    ):
        Drawable.__init__(self, image, name, width, height, type)
        _check_type(opacity, (int, float), "opacity")
        _check_type(mode, int, "mode")
        if _BASE[type] != image.base_type:
            raise error("layer type %d does not match the image's base type" % type)
        self.opacity, self.mode = float(opacity), mode
        self.mask = None
        self._parent = None

    @property
    def parent(self):
        return self._parent

    def set_offsets(self, x, y):
        _check_type(x, int, "x")
        _check_type(y, int, "y")
        self._offsets = (x, y)
        self._changed("offsets")

    def translate(self, dx, dy):
        self.set_offsets(self._offsets[0] + dx, self._offsets[1] + dy)

    def create_mask(self, mask_type):
        _check_type(mask_type, int, "mask type")
        if mask_type == _e.ADD_MASK_WHITE:
            fill = lambda x, y: 255
        elif mask_type == _e.ADD_MASK_SELECTION:
            ox, oy = self._offsets
            fill = lambda x, y: 255 if self.image._in_selection(ox + x, oy + y) else 0
        else:
            raise NotImplementedError("fake create_mask: type %d" % mask_type)
        mask = Channel(self.image, self.name + " mask", self.width, self.height)
        mask._data[:] = bytearray(fill(x, y) for y in range(self.height) for x in range(self.width))
        return mask

    def add_mask(self, mask):
        _check_type(mask, Channel, "mask")
        if not self._attached:
            raise error(
                "Item '%s' (%d) cannot be used because it has not been added to an "
                "image" % (self.name, self.ID)
            )
        if self.mask is not None or (mask.width, mask.height) != (self.width, self.height):
            raise error("could not add layer mask")
        self.mask = mask
        self._changed("add mask")


class GroupLayer(Layer):
    """gimp.GroupLayer(image, name="", opacity=100.0, mode=NORMAL)."""

    def __init__(self, image, name="", opacity=100.0, mode=_e.NORMAL_MODE):
        types = {_e.RGB: _e.RGBA_IMAGE, _e.GRAY: _e.GRAYA_IMAGE}
        Layer.__init__(self, image, name, 1, 1, types[image.base_type], opacity, mode)
        self._children = []

    @property
    def layers(self):
        return list(self._children)


class Channel(Drawable):
    def __init__(self, image, name, width, height, opacity=100.0, color=(0, 0, 0)):
        Drawable.__init__(self, image, name, width, height, _e.GRAY_IMAGE)


# --- pixel regions -----------------------------------------------------------------


def _span(key, origin, size, limit, axis):
    """A subscript component → (start, stop), pygimp style."""
    if isinstance(key, int):
        if key < origin or key >= origin + size:
            raise IndexError("%s subscript out of range" % axis)
        return key, key + 1
    if isinstance(key, slice):
        if key.step not in (None, 1):
            raise ValueError("slice steps not supported")
        start, stop, _ = key.indices(limit)
        start = start or origin  # pygimp replaces a 0 start by the region origin
        if not 0 <= start < stop <= limit:
            raise IndexError("%s slice out of range" % axis)
        return start, stop
    raise TypeError("invalid subscript")


class PixelRgn(object):
    def __init__(self, drawable, x, y, width, height, dirty, shadow):
        _check_type(drawable, Drawable, "drawable")
        for value in (x, y, width, height):
            _check_type(value, int, "region geometry")
        if x < 0 or y < 0 or x + width > drawable.width or y + height > drawable.height:
            raise ValueError("region %r outside the drawable" % ((x, y, width, height),))
        self.drawable, self.x, self.y, self.w, self.h = drawable, x, y, width, height
        self.dirty, self.shadow = bool(dirty), bool(shadow)
        self.bpp = drawable.bpp
        self.rowstride = width * self.bpp

    def _rect(self, key):
        if not isinstance(key, tuple) or len(key) != 2:
            raise TypeError("subscript must be a 2-tuple")
        x1, x2 = _span(key[0], self.x, self.w, self.drawable.width, "x")
        y1, y2 = _span(key[1], self.y, self.h, self.drawable.height, "y")
        return x1, y1, x2, y2

    def _source(self):
        d = self.drawable
        if self.shadow:
            return d._shadow_cache or d._shadow or bytearray(len(d._data))
        return d._cache if d._cache is not None else d._data

    def __getitem__(self, key):
        x1, y1, x2, y2 = self._rect(key)
        src, stride, bpp = self._source(), self.drawable.width * self.bpp, self.bpp
        return b"".join(
            bytes(src[y * stride + x1 * bpp : y * stride + x2 * bpp]) for y in range(y1, y2)
        )

    def __setitem__(self, key, value):
        x1, y1, x2, y2 = self._rect(key)
        if type(value) is not bytes:
            raise TypeError("must assign string to subscript")
        row = (x2 - x1) * self.bpp
        if len(value) != row * (y2 - y1):
            raise TypeError("string is wrong length")
        if not self.dirty:
            return  # tiles not marked dirty never travel back to GIMP
        d = self.drawable
        if self.shadow:
            if d._shadow_cache is None:
                d._shadow_cache = bytearray(d._shadow or bytearray(len(d._data)))
            dst = d._shadow_cache
        else:
            if d._cache is None:
                d._cache = bytearray(d._data)
            dst = d._cache
        stride = d.width * self.bpp
        for i, y in enumerate(range(y1, y2)):
            start = y * stride
            dst[start + x1 * self.bpp : start + x2 * self.bpp] = value[i * row : (i + 1) * row]


# --- the PDB -----------------------------------------------------------------------


class _PDB(object):
    """Only the procedures listed exist (AttributeError otherwise, like pygimp)."""

    def gimp_message(self, msg):
        message(msg)

    def gimp_progress_init(self, msg, gdisplay):
        state.progress.append(("init", msg))

    def gimp_progress_update(self, fraction):
        progress_update(fraction)

    def gimp_progress_set_text(self, msg):
        _check_type(msg, str, "message")
        state.progress.append(("text", msg))

    def gimp_progress_pulse(self):
        state.progress.append(("pulse",))

    def gimp_progress_end(self):
        state.progress.append(("end",))

    def gimp_displays_flush(self):
        displays_flush()

    def gimp_image_undo_group_start(self, image):
        _check_type(image, Image, "image")
        image.undo_group_start()

    def gimp_image_undo_group_end(self, image):
        _check_type(image, Image, "image")
        image.undo_group_end()

    def gimp_image_insert_layer(self, image, layer, parent, position):
        _check_type(position, int, "position")
        image.insert_layer(layer, parent, position)

    def gimp_image_get_item_position(self, image, item):
        parent = item.parent
        siblings = parent._children if parent is not None else image._layers
        if item not in siblings:
            raise RuntimeError("execution error: item is not in the image")
        return siblings.index(item)

    def gimp_item_get_parent(self, item):
        _check_type(item, Drawable, "item")
        return getattr(item, "parent", None)

    def gimp_drawable_offsets(self, drawable):
        return drawable.offsets

    def gimp_drawable_mask_intersect(self, drawable):
        found = drawable._intersection()
        return (1,) + found if found else (0, 0, 0, 0, 0)

    def gimp_selection_is_empty(self, image):
        return 1 if image._selection is None else 0

    def gimp_selection_bounds(self, image):
        if image._selection is None:
            return (0, 0, 0, image.width, image.height)
        return (1,) + tuple(image._selection)

    def gimp_selection_none(self, image):
        if image._selection is not None:
            image._selection = None
            image._record("select none")

    def gimp_image_select_rectangle(self, image, operation, x, y, width, height):
        if operation != _e.CHANNEL_OP_REPLACE:
            raise NotImplementedError("fake selection supports CHANNEL_OP_REPLACE only")
        x1, y1 = max(0, int(x)), max(0, int(y))
        x2, y2 = min(image.width, int(x + width)), min(image.height, int(y + height))
        image._selection = (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
        image._record("select rectangle")


pdb = _PDB()

# -*- coding: utf-8 -*-
"""Logic shared by the GIMP 2.10 and GIMP 3 entries, free of any GIMP API.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3). The entries
read pixels and geometry from GIMP, call `stylize()` here (which runs the bridge and
waits for the daemon), and only then touch the image.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from . import protocol

PROC_NAME = "python-fu-stylize"
MENU_PATH = "<Image>/Filters/Artistic"
MENU_LABEL = "_Neural Style Transfer..."
IMAGE_TYPES = "RGB*, GRAY*"
BLURB = "Repaint the layer in the style of one to three images"
HELP = ("Sends the active layer (or the selection's bounding box) and the style images to "
        "the local Stylize daemon and adds the result as a new layer above the source.")
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT = 600.0  # seconds for a whole job
DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to wait for the daemon to answer at all
CONFIG_FILE = "stylize-gimp.json"  # written next to this module by `stylize gimp install`
# Config keys naming credential files for a daemon beyond loopback (read by the bridge).
CREDENTIAL_KEYS = ("tls_ca", "tls_cert", "tls_key", "token_file")
SERVE_COMMAND = "stylize serve"

# (is_gray, has_alpha) -> (wire layout, channels, babl model: perceptual, as GIMP's own
# plug-ins read layers)
_LAYOUTS = {
    (False, False): ("RGB", 3, "R'G'B'"),
    (False, True): ("RGBA", 4, "R'G'B'A"),
    (True, False): ("GRAY", 1, "Y'"),
    (True, True): ("GRAYA", 2, "Y'A"),
}
# depth -> (wire suffix, bytes per sample, babl type)
DEPTHS = {
    "8": ("8", 1, "u8"),
    "16": ("16", 2, "u16"),
    "float": ("F32", 4, "float"),
}
# (is_gray, has_alpha, depth) -> (wire format, bytes per pixel, babl format for GIMP 3)
_FORMATS = dict(
    ((gray, alpha, depth), (layout + suffix, channels * size, model + " " + babl_type))
    for (gray, alpha), (layout, channels, model) in _LAYOUTS.items()
    for depth, (suffix, size, babl_type) in DEPTHS.items()
)
GIMP3_PRECISION_HELP = ("The layer is read and the new layer written in the image's own "
                        "precision (8-bit, 16-bit, or 32-bit float for 32-bit, half and "
                        "double images); float values above 1.0 keep their part above 1.0.")
GIMP2_PRECISION_HELP = ("GIMP 2.10's Python-Fu pixel regions are 8-bit: a 16-bit or float "
                        "image is read and stylized at 8 bits per channel (use GIMP 3 to keep "
                        "its precision).")
_CREATE_NO_WINDOW = 0x08000000  # Windows: no console flashing up; missing from py2's subprocess


_TEXT = type(u"")  # unicode on Python 2, str on Python 3


class StylizeError(Exception):
    """A failure to show the user as is: says what went wrong and what to do."""


def native_text(text):
    """Text as the running GIMP wants it: UTF-8 bytes for pygimp (2.7), str on 3."""
    if not isinstance(text, str) and isinstance(text, _TEXT):
        return text.encode("utf-8")
    return text


def error_text(error):
    """The user-facing message of an exception, as native text."""
    return native_text(error.args[0] if error.args else repr(error))


class PixelFormat(object):
    """How the layer's pixels travel: wire name, bytes per pixel, GIMP 3 babl format.

    depth is one of DEPTHS ("8", "16", "float"; see depth_of_precision). On the wire
    samples are little-endian; GEGL gives and takes native ones (see wire_order).
    """

    def __init__(self, is_gray, has_alpha, depth="8"):
        self.depth = depth
        self.name, self.bpp, self.babl = _FORMATS[(bool(is_gray), bool(has_alpha), depth)]


def depth_of_precision(nick):
    """The DEPTHS key for a GIMP 3 precision's nick ("u8-non-linear", "u16-linear",
    "half-perceptual", "float-linear", ...): u8 and u16 stay, everything else is float."""
    for depth, prefix in (("8", "u8"), ("16", "u16")):
        if nick.startswith(prefix + "-"):
            return depth
    return "float"


def wire_order(pixels, fmt):
    """Native <-> little-endian samples (the same swap both ways; nothing to do on
    little-endian machines, where GEGL's native order is the wire's)."""
    size = DEPTHS[fmt.depth][1]
    if sys.byteorder == "little" or size == 1:
        return pixels
    data = bytearray(pixels)
    swapped = bytearray(len(data))
    for i in range(size):  # byte i of each sample goes to size - 1 - i
        swapped[i::size] = data[size - 1 - i::size]
    return bytes(swapped)


class Region(object):
    """The part of the source layer that is stylized.

    x, y are drawable coordinates (for reading pixels); image_x, image_y where the
    result layer goes; masked tells whether a selection mask should be added.
    """

    def __init__(self, x, y, width, height, image_x, image_y, masked):
        self.x, self.y, self.width, self.height = x, y, width, height
        self.image_x, self.image_y, self.masked = image_x, image_y, masked

    def __repr__(self):
        return "Region(%r)" % (self.__dict__,)


def preview_size(width, height, side):
    """(width, height, scale) of a preview whose long side is at most `side` (>= 16 px)."""
    scale = min(1.0, float(side) / max(width, height))
    return (max(16, int(round(width * scale))), max(16, int(round(height * scale))), scale)


def plan_region(offsets, intersection, has_selection):
    """Decide which rectangle to send and where the result goes.

    offsets: the layer's (x, y) in the image. intersection: (x, y, w, h) of the
    selection's bounding box ∩ layer in drawable coordinates (the whole layer when
    nothing is selected), or None when the selection misses the layer.
    """
    if intersection is None or intersection[2] <= 0 or intersection[3] <= 0:
        raise StylizeError("The selection does not overlap the layer. Select part of the "
                           "layer, or Select > None to stylize the whole layer.")
    x, y, width, height = intersection
    return Region(x, y, width, height, offsets[0] + x, offsets[1] + y, bool(has_selection))


# Colour matching choices, in dialog order (the 2.10 option index): the daemon's ColorMatch.
COLOR_MATCHES = ("none", "content", "style")
COLOR_MATCH_LABELS = ("None", "Paint in the layer's palette", "Take the style's palette")

# Methods and the optimisation's presets, in dialog order (the 2.10 option index); the
# bridge maps a preset to iterations and scales (stylize/client/bridge.py PRESETS).
METHODS = ("fast", "optimize")
METHOD_LABELS = ("Fast (seconds)", "Best quality (minutes)")
PRESETS = ("draft", "good", "best")
# "Finest", not "Best": next to the method "Best quality" a "Best" read as the same thing
PRESET_LABELS = ("Draft (quickest)", "Good", "Finest (slowest)")
MAX_KEEP_STEPS = 20
METHOD_HELP = ("Fast paints in seconds. Best quality refines the picture step by step "
               "(Gatys et al.): minutes to an hour, finer strokes. The live preview always "
               "uses the fast method.")
PRESET_HELP = ("Best quality only: how far it refines; Draft is quickest, Finest takes longest "
               "(README: what each costs)")
BALANCE_HELP = ("Best quality only: 0 keeps more of the layer's picture, 1 paints more of the "
                "style (Strength applies to the fast method)")
KEEP_STEPS_HELP = ("Best quality only: add this many intermediate results as layers in a "
                   "hidden layer group below the result (0: none; with a new layer only)")


# Where the result goes, in dialog order (the 2.10 option index).
OUTPUTS = ("new-layer", "in-place")
OUTPUT_LABELS = ("New layer above the source", "Replace the layer's pixels (in place)")
# Blend modes of the new layer: (name, label, GIMP 3 Gimp.LayerMode member).
BLEND_MODES = (("normal", "Normal", "NORMAL"), ("overlay", "Overlay", "OVERLAY"),
               ("soft-light", "Soft light", "SOFTLIGHT"), ("multiply", "Multiply", "MULTIPLY"),
               ("screen", "Screen", "SCREEN"), ("color", "Colour (HSL)", "HSL_COLOR"),
               ("luminance", "Luminance", "LUMINANCE"))
OUTPUT_HELP = ("New layer (default): the result goes in a new layer above the source, with "
               "the opacity and blend mode below. In place: the result replaces the layer's "
               "pixels (inside the selection), fully; opacity and blend mode do not apply")


class LibraryStyle(object):
    """A named style of the daemon's library (the gallery's choice), sent by name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "LibraryStyle(%r)" % (self.name,)

    def __eq__(self, other):
        return isinstance(other, LibraryStyle) and other.name == self.name

    def __ne__(self, other):  # Python 2 does not derive it from __eq__
        return not self == other


def style_label(source):
    """How a style shows in layer names: its library name, or its file name's stem."""
    if isinstance(source, LibraryStyle):
        return source.name
    return os.path.splitext(os.path.basename(source))[0]


MAX_WEIGHT = 10.0  # style weights are relative to their sum: a later style may outweigh the first
INDEXED_MESSAGE = ("Indexed images are not supported: convert the image with "
                   "Image > Mode > RGB (or Grayscale) first.")
STRENGTH_HELP = ("How much of the painting's character: 1 paints fully in its style, 0 in "
                 "the layer's own style (the layer is still repainted; use Opacity to fade "
                 "the effect)")
OPACITY_HELP = "Opacity of the new layer over the original: how much of the effect shows"
# Stroke scale: the daemon's (engine/stroke_scale.py). The daemon accepts up to 16; the
# dialog stops at 4 (a 256-px painting), where the photo is already mostly gone.
DEFAULT_STROKE_SCALE = 1.0
MIN_STROKE_SCALE = 1.0 / 64  # full resolution: the network's own, finest strokes
MAX_STROKE_SCALE = 16.0
DIALOG_MAX_STROKE_SCALE = 4.0
STROKE_SCALE_HELP = ("Size of the brush strokes relative to the image: 1 paints them as on a "
                     "1024-pixel picture, 2 twice as large; the far left (1/64) paints at the "
                     "layer's full resolution (the finest strokes, slowest)")


class Request(object):
    """What the user asked for: [(style path, weight)], strength in [0, 1], address,
    whether to keep the layer's colours (only the stylized luminance is used), the
    colour matching (one of COLOR_MATCHES), the new layer's opacity (0..100) and the
    stroke scale (see DEFAULT_STROKE_SCALE).
    A style is a file path or a LibraryStyle; output is one of OUTPUTS, blend_mode one of
    BLEND_MODES' names.

    The method (one of METHODS): "fast" uses strength; "optimize" uses the preset (one of
    PRESETS), balance (0 content .. 1 style) and keep_steps (intermediate results)."""

    def __init__(self, styles, strength, address, keep_colors=False, color_match="none",
                 opacity=100.0, output="new-layer", blend_mode="normal",
                 stroke_scale=DEFAULT_STROKE_SCALE, method="fast", preset="good", balance=0.5,
                 keep_steps=0):
        self.styles, self.strength, self.address = styles, strength, address
        self.keep_colors = keep_colors
        self.color_match = color_match
        self.opacity = opacity
        self.output, self.blend_mode = output, blend_mode
        self.stroke_scale = stroke_scale
        self.method, self.preset, self.balance = method, preset, balance
        self.keep_steps = keep_steps if method == "optimize" else 0


def _choice(value, names, what):
    """A name of ``names`` from a name or a 2.10 option index."""
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if value in names:
        return value
    raise StylizeError("Unknown %s %r: use one of %s." % (what, value, ", ".join(names)))


def preview_request(request, scale):
    """The request for a preview made at `scale` (< 1) of the layer's size: the stroke
    scale follows, so the preview's strokes are as large, relative to the picture, as
    the result's (up to the daemon's maximum)."""
    preview = copy.copy(request)
    preview.stroke_scale = min(MAX_STROKE_SCALE, request.stroke_scale / min(1.0, scale))
    return preview


def color_match_name(value):
    """A COLOR_MATCHES name from a name or a 2.10 option index."""
    return _choice(value, COLOR_MATCHES, "colour matching")


def _method_settings(method, preset, balance, keep_steps):
    """(method, preset, balance, keep_steps) checked, or StylizeError saying what to fix."""
    method = _choice(method, METHODS, "method")
    preset = _choice(preset, PRESETS, "quality preset")
    if not 0.0 <= float(balance) <= 1.0:
        raise StylizeError("The style/content balance must be between 0 and 1, got %s."
                           % balance)
    if not 0 <= int(keep_steps) <= MAX_KEEP_STEPS:
        raise StylizeError("Intermediate results to keep must be between 0 and %d, got %s."
                           % (MAX_KEEP_STEPS, keep_steps))
    return method, preset, float(balance), int(keep_steps)


def make_request(strength, address, styles, keep_colors=False, color_match="none",
                 opacity=100.0, output="new-layer", blend_mode="normal",
                 stroke_scale=DEFAULT_STROKE_SCALE, method="fast", preset="good", balance=0.5,
                 keep_steps=0):
    """Validate the dialog/PDB parameters; styles is [(path, weight), ...].

    The first style is required; further styles with an empty path or weight 0 are
    skipped (the dialog always shows three slots).
    """
    first = styles[0][0] if styles else ""
    if not first:
        raise StylizeError("Choose a style image (a painting as PNG, JPEG, WebP or TIFF).")
    chosen = [(styles[0][0], 1.0 if styles[0][1] is None else float(styles[0][1]))]
    chosen += [(p, float(w)) for p, w in styles[1:] if p and w > 0]
    if not 0.0 <= float(strength) <= 1.0:
        raise StylizeError("Strength must be between 0 and 1, got %s." % strength)
    for path, weight in chosen:
        if not 0 <= weight <= MAX_WEIGHT:
            raise StylizeError("Style weights must be between 0 and %g (%s: %s)."
                               % (MAX_WEIGHT, path, weight))
    if not 0.0 <= float(opacity) <= 100.0:
        raise StylizeError("Opacity must be between 0 and 100, got %s." % opacity)
    if not MIN_STROKE_SCALE <= float(stroke_scale) <= MAX_STROKE_SCALE:  # NaN fails too
        raise StylizeError("Stroke size must be between %g (full resolution) and %g, got %s."
                           % (MIN_STROKE_SCALE, MAX_STROKE_SCALE, stroke_scale))
    match = color_match_name(color_match)
    if match == "style" and keep_colors:
        raise StylizeError("\"Take the style's palette\" and \"Keep colours\" contradict each "
                           "other: choose one.")
    return Request(chosen, float(strength), (address or "").strip(), bool(keep_colors), match,
                   float(opacity), _choice(output, OUTPUTS, "output"),
                   _choice(blend_mode, [m[0] for m in BLEND_MODES], "blend mode"),
                   float(stroke_scale), *_method_settings(method, preset, balance, keep_steps))


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


def plugin_dir():
    """The folder holding this package (where the installer puts the config)."""
    return os.path.dirname(os.path.abspath(__file__))


def load_settings(path=None):
    """Read the installer's config; missing file or keys fall back to defaults.

    Keys: python (bridge interpreter), address, timeout and connect_timeout
    (seconds), pythonpath (optional folder holding the `stylize` package, for
    source checkouts). $STYLIZE_BRIDGE_PYTHON overrides python.
    """
    settings = {"python": "python3", "address": DEFAULT_ADDRESS, "timeout": DEFAULT_TIMEOUT,
                "connect_timeout": DEFAULT_CONNECT_TIMEOUT, "pythonpath": ""}
    path = path or os.path.join(plugin_dir(), CONFIG_FILE)
    try:
        with open(path, "rb") as f:
            settings.update(json.loads(f.read().decode("utf-8")))
    except IOError:
        pass
    except ValueError as e:
        raise StylizeError("The plug-in config %s is not valid JSON (%s). Reinstall with "
                           "`stylize gimp install`." % (path, e))
    if os.environ.get("STYLIZE_BRIDGE_PYTHON"):
        settings["python"] = os.environ["STYLIZE_BRIDGE_PYTHON"]
    return settings


def _read_style(path):
    if isinstance(path, LibraryStyle):
        return b""  # the daemon reads it from its library
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError) as e:
        raise StylizeError("Cannot read the style image %s (%s). Choose an existing image "
                           "file." % (path, getattr(e, "strerror", None) or e))


def build_request(pixels, width, height, fmt, request, settings):
    """Return (header, blobs) for the bridge; reads the style files."""
    if len(pixels) != width * height * fmt.bpp:
        raise ValueError("pixels: %d bytes for %dx%d %s" % (len(pixels), width, height, fmt.name))
    styles = [_read_style(p) for p, _ in request.styles]
    header = dict(_connection(request.address, settings), **{
        "strength": request.strength,
        "keep_colors": request.keep_colors,
        "color_match": request.color_match,
        "stroke_scale": request.stroke_scale,
        "method": request.method,
        "preset": request.preset,
        "balance": request.balance,
        "keep_steps": request.keep_steps,
        "content": {"width": width, "height": height, "format": fmt.name, "size": len(pixels)},
        "styles": [_style_header(p, w, data) for (p, w), data in zip(request.styles, styles)],
    })
    return header, [pixels] + styles


def _style_header(source, weight, data):
    if isinstance(source, LibraryStyle):
        return {"named": source.name, "weight": weight, "size": 0}
    return {"name": os.path.basename(source), "weight": weight, "size": len(data)}


def _connection(address, settings):
    """The header fields that say which daemon to reach, and how."""
    return {
        "address": address or settings["address"],
        "timeout": float(settings["timeout"]),
        "connect_timeout": float(settings["connect_timeout"]),
        "credentials": dict((key, settings[key]) for key in CREDENTIAL_KEYS if settings.get(key)),
    }


def _bridge_env(settings):
    """The bridge is a foreign Python 3: drop GIMP's own Python settings."""
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP"):
        env.pop(name, None)
    if settings.get("pythonpath"):
        env["PYTHONPATH"] = settings["pythonpath"]
    return env


def _spawn_bridge(settings, stderr, session=False):
    python = settings["python"]
    kwargs = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = _CREATE_NO_WINDOW
    command = [python, "-m", "stylize.client.bridge"] + (["--session"] if session else [])
    try:
        return subprocess.Popen(command, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr,
                                env=_bridge_env(settings), **kwargs)
    except (OSError, ValueError) as e:
        raise StylizeError("Cannot start the Stylize bridge with %s (%s). Reinstall the "
                           "plug-in with `stylize gimp install --python /path/to/python3` "
                           "using the Python where Stylize is installed." % (python, e))


def _tail(stream, limit=800):
    """The end of the bridge's log (a temporary file, so it never blocks the bridge)."""
    try:
        stream.seek(0)
        text = stream.read().decode("utf-8", "replace").strip()
    except (IOError, OSError, ValueError):
        return ""
    return text[-limit:]


class Step(object):
    """An intermediate result of the optimisation: a PNG of the layer's size."""

    def __init__(self, event):
        self.iteration, self.iterations = int(event["iteration"]), int(event["iterations"])
        self.png = event["data"]

    def name(self, source_name):
        return native_text("%s: iteration %d of %d" % (source_name, self.iteration,
                                                       self.iterations))


def steps_group_name(source_name):
    return native_text("%s: intermediate results" % source_name)


def _check_result(event, width, height, fmt):
    got = (event.get("width"), event.get("height"), event.get("format"))
    if got != (width, height, fmt.name) or len(event["data"]) != width * height * fmt.bpp:
        raise StylizeError("The daemon returned a %sx%s %s image for a %dx%d %s layer; "
                           "update Stylize (daemon and plug-in) to the same version."
                           % (got + (width, height, fmt.name)))
    return event["data"]


def run_bridge(header, blobs, settings, progress=None, on_step=None):
    """Run one job through the bridge; return the result event (with "data").

    progress(fraction, message) is called for each progress event, on_step(event) for
    each intermediate result (its PNG bytes under "data"). Any failure becomes a
    StylizeError; the bridge process is always reaped.
    """
    log = tempfile.TemporaryFile()
    try:
        proc = _spawn_bridge(settings, log)
        try:
            return _exchange(proc, protocol.encode_request(header, blobs), progress, on_step)
        except protocol.ProtocolError as e:
            raise StylizeError(
                "The Stylize bridge (%s -m stylize.client.bridge) stopped unexpectedly (%s; exit "
                "status %s). %s\nCheck `%s -m stylize.client.bridge --check`, or reinstall with "
                "`stylize gimp install`."
                % (settings["python"], e, _wait(proc), _tail(log), settings["python"]))
        finally:
            _reap(proc)
    finally:
        log.close()


def _exchange(proc, request, progress, on_step=None):
    """Send the request and read events; stdin stays open as the job's lifeline
    (protocol.py): it closes when this returns, or when GIMP ends the plug-in."""
    try:
        proc.stdin.write(request)
        proc.stdin.flush()
    except (IOError, OSError):
        pass  # the bridge exited early; its error event or its log says why
    for event in protocol.read_events(proc.stdout):
        if event["event"] == "progress" and progress is not None:
            progress(float(event.get("fraction", 0.0)), event.get("message", ""))
        elif event["event"] == "step" and on_step is not None:
            on_step(event)
        elif event["event"] == "error":
            raise StylizeError(event.get("message") or event.get("code") or "bridge error")
        elif event["event"] in protocol.FINAL_EVENTS:
            return event


def _wait(proc, grace=5.0):
    """Wait up to `grace` seconds for the bridge to exit (py2 has no wait(timeout))."""
    deadline = time.time() + grace
    while proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    return proc.returncode


def _reap(proc):
    """Close the lifeline, then make sure the bridge is gone and its pipes are closed."""
    try:
        proc.stdin.close()
    except (IOError, OSError):
        pass
    if _wait(proc) is None:
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            stream.close()
        except (IOError, OSError):
            pass


def stylize(pixels, width, height, fmt, request, settings=None, progress=None, on_step=None):
    """Stylize raw pixels (fmt: PixelFormat, native byte order); return the result's
    raw pixels, in the same format and byte order.

    Blocks until the daemon answers; raises StylizeError with a user-facing message.
    on_step(Step) receives the optimisation's intermediate results (request.keep_steps).
    """
    settings = settings or load_settings()
    header, blobs = build_request(wire_order(pixels, fmt), width, height, fmt, request,
                                  settings)
    steps = None if on_step is None else (lambda event: on_step(Step(event)))
    event = run_bridge(header, blobs, settings, progress, steps)
    return wire_order(_check_result(event, width, height, fmt), fmt)


class BridgeSession(object):
    """One bridge process for many small jobs: the dialog's live preview.

    Starting a bridge costs a Python start-up and the gRPC import (about 0.3 s), more
    than a preview's render; a session (`python -m stylize.client.bridge --session`) starts
    once, keeps its channel to the daemon open, and answers request after request.
    Thread-safe: one job at a time. Closing it (or GIMP ending the plug-in) closes the
    bridge's stdin, which ends the bridge.
    """

    def __init__(self, settings=None):
        self._settings = settings
        self._proc = None
        self._log = None
        self._lock = threading.Lock()

    def stylize(self, pixels, width, height, fmt, request):
        """As `stylize` (without progress): the result's raw pixels, or StylizeError."""
        with self._lock:
            settings = self._settings = self._settings or load_settings()
            header, blobs = build_request(wire_order(pixels, fmt), width, height, fmt, request,
                                          settings)
            if self._proc is None or self._proc.poll() is not None:
                self._start(settings)
            try:
                event = _exchange(self._proc, protocol.encode_request(header, blobs), None)
            except protocol.ProtocolError as e:
                message = ("The Stylize bridge (%s -m stylize.client.bridge --session) stopped "
                           "unexpectedly (%s). %s" % (settings["python"], e, _tail(self._log)))
                self._stop()
                raise StylizeError(message)
        return wire_order(_check_result(event, width, height, fmt), fmt)

    def _start(self, settings):
        self._stop()
        self._log = tempfile.TemporaryFile()
        self._proc = _spawn_bridge(settings, self._log, session=True)

    def _stop(self):
        if self._proc is not None:
            _reap(self._proc)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self):
        with self._lock:
            self._stop()


# -- the style gallery --------------------------------------------------------------


class GalleryStyle(object):
    """A named style of the daemon as the gallery shows it; thumbnail: JPEG bytes or b""."""

    def __init__(self, info, thumbnail):
        self.name, self.origin = info["name"], info.get("origin", "")
        self.width, self.height = info.get("width", 0), info.get("height", 0)
        self.file_bytes = info.get("file_bytes", 0)
        self.error = info.get("thumbnail_error", "")
        self.thumbnail = thumbnail

    def __repr__(self):
        return "GalleryStyle(%r, %s)" % (self.name, self.origin)


def _gallery_styles(infos, data):
    styles, offset = [], 0
    for info in infos:
        size = int(info.get("thumbnail_size", 0))
        styles.append(GalleryStyle(info, data[offset:offset + size]))
        offset += size
    return styles


def list_styles(address="", settings=None, thumbnail_side=0):
    """The daemon's named styles with thumbnails, sorted by name."""
    settings = settings or load_settings()
    header = dict(_connection(address, settings), request="list_styles",
                  thumbnail_side=int(thumbnail_side))
    event = run_bridge(header, [], settings)
    return _gallery_styles(event["styles"], event["data"])


def library_name(path):
    """A valid library name from a file name: 'My painting (2).jpg' -> 'My_painting_2'."""
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "".join(c if (c.isalnum() and ord(c) < 128) or c in "_.-" else "_" for c in stem)
    name = "_".join(part for part in name.split("_") if part).lstrip("._-")
    return (name or "style")[:64]


def add_style(path, name=None, address="", settings=None):
    """Add the image file at ``path`` to the daemon's library; returns its GalleryStyle."""
    settings = settings or load_settings()
    data = _read_style(path)
    name = name or library_name(path)
    header = dict(_connection(address, settings), request="add_style", name=name,
                  styles=[{"name": os.path.basename(path), "size": len(data)}])
    event = run_bridge(header, [data], settings)
    return _gallery_styles([event["style"]], event["data"])[0]

# -*- coding: utf-8 -*-
"""The bridge process: one request through `python -m stylize.client.bridge`, its
events read back, the process always reaped (protocol.py: the framing).

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import os
import subprocess
import sys
import tempfile
import time

from . import protocol
from .errors import StylizeError, native_text
from .options import LibraryStyle
from .pixels import wire_order
from .settings import CREDENTIAL_KEYS, load_settings

_CREATE_NO_WINDOW = 0x08000000  # Windows: no console flashing up; missing from py2's subprocess


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
    masks = _masks(header, request)
    return header, [pixels] + styles + [m.wire() for m in masks]


def _masks(header, request):
    """Put the request's regions and strength map into the header (protocol.py, version
    6); return the masks in the order their bytes follow the style files."""
    masks = []
    for entry, mask in zip(header["styles"], request.masks):
        if mask is not None:
            entry["region"] = mask.header()
            masks.append(mask)
    if request.strength_map is not None:
        header["strength_map"] = request.strength_map.header()
        masks.append(request.strength_map)
    return masks


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

# -*- coding: utf-8 -*-
"""GIMP animations (layers as frames) stylized as one sequence, free of any GIMP API.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).

GIMP's convention: each top-level layer is a frame, the bottom layer the first one, and
a layer's name may carry its timing ("Frame 2 (100ms)") and disposal ("(combine)").
The entries list the layers bottom first, `plan_frames` decides what each frame sends
(every frame has the canvas's size, as the daemon's sequences need one size), the
entries read the pixels when `stylize_frames` asks for them (a few frames ahead of the
results) and only then build the new image: the stylized frames, named as the source's
layers, in the same order. Nothing of the source image changes.
"""
import struct
import tempfile

from . import bridge_process, core, protocol

PROC_NAME = "python-fu-stylize-animation"
MENU_PATH = "<Image>/Filters/Animation"
MENU_LABEL = "_Stylize Animation..."
BLURB = "Stylize every layer of an animation as one clip, consistent from frame to frame"
HELP = ("Sends the image's layers as the frames of one sequence (bottom layer first, as "
        "GIMP plays animations) to the local Stylize daemon, which keeps the strokes steady "
        "from frame to frame, and opens the stylized frames as a new image with the same "
        "layer names (and so the same frame timings).")
CONSISTENT_HELP = ("Keep the strokes steady from frame to frame (the previous stylized frame "
                   "follows the motion); off: each frame is painted on its own")
WINDOW = 2  # frames written ahead of the results: bounded memory on both sides


class Frame(object):
    """One frame: the part of a layer inside the canvas.

    x, y, width, height: that part in image coordinates; read_x, read_y: the same corner
    in the layer's own coordinates (where its pixels are read).
    """

    def __init__(self, index, name, x, y, width, height, read_x, read_y, has_alpha):
        self.index, self.name = index, name
        self.x, self.y, self.width, self.height = x, y, width, height
        self.read_x, self.read_y, self.has_alpha = read_x, read_y, has_alpha

    def __repr__(self):
        return "Frame(%r)" % (self.__dict__,)


class FramePlan(object):
    """The frames (bottom layer first) and the canvas they are sent at.

    alpha: whether frames travel with alpha (a layer has alpha, or one does not cover the
    canvas and the rest of its frame is transparent).
    """

    def __init__(self, width, height, frames):
        self.width, self.height, self.frames = width, height, frames
        self.alpha = any(f.has_alpha or not self.covers(f) for f in frames)

    def covers(self, frame):
        return (frame.x, frame.y, frame.width, frame.height) == (0, 0, self.width, self.height)


def plan_frames(canvas_width, canvas_height, layers):
    """The FramePlan of an animation; layers: [(name, (offset_x, offset_y), width, height,
    has_alpha)], bottom layer first (GIMP's first frame)."""
    if not layers:
        raise core.StylizeError("The image has no layers: an animation's frames are its "
                                "layers.")
    frames = []
    for index, (name, offsets, width, height, has_alpha) in enumerate(layers):
        x0, y0 = max(0, offsets[0]), max(0, offsets[1])
        x1 = min(canvas_width, offsets[0] + width)
        y1 = min(canvas_height, offsets[1] + height)
        if x1 <= x0 or y1 <= y0:
            raise core.StylizeError(
                "The layer %s lies outside the canvas, so its frame would be empty. Use "
                "Image > Fit Canvas to Layers, or move the layer." % core.native_text(name))
        frames.append(Frame(index, name, x0, y0, x1 - x0, y1 - y0, x0 - offsets[0],
                            y0 - offsets[1], has_alpha))
    return FramePlan(canvas_width, canvas_height, frames)


_OPAQUE = {"8": b"\xff", "16": b"\xff\xff", "float": struct.pack("=f", 1.0)}  # native order


def with_alpha(pixels, fmt_in, fmt_out):
    """Pixels of fmt_in (no alpha) as fmt_out (the same with alpha): opaque everywhere.
    GIMP 3 reads layers in the format it is asked for; GIMP 2.10's regions need this."""
    if fmt_in.name == fmt_out.name:
        return pixels
    size = core.DEPTHS[fmt_in.depth][1]
    channels_in = fmt_in.bpp // size
    count = len(pixels) // fmt_in.bpp
    out = bytearray(_OPAQUE[fmt_in.depth] * (count * (channels_in + 1)))
    data = bytearray(pixels)
    for channel in range(channels_in):
        for byte in range(size):
            offset = channel * size + byte
            out[offset::fmt_out.bpp] = data[offset::fmt_in.bpp]
    return bytes(out)


def on_canvas(pixels, frame, plan, fmt):
    """The frame's pixels placed on the canvas (transparent around the layer)."""
    if plan.covers(frame):
        return pixels
    bpp = fmt.bpp
    canvas = bytearray(plan.width * plan.height * bpp)
    row = frame.width * bpp
    for r in range(frame.height):
        start = ((frame.y + r) * plan.width + frame.x) * bpp
        canvas[start:start + row] = pixels[r * row:(r + 1) * row]
    return bytes(canvas)


def off_canvas(pixels, frame, plan, fmt):
    """The part of a stylized canvas-sized frame that belongs to the frame's layer."""
    if plan.covers(frame):
        return pixels
    bpp = fmt.bpp
    row = frame.width * bpp
    return b"".join(pixels[((frame.y + r) * plan.width + frame.x) * bpp:][:row]
                    for r in range(frame.height))


def sequence_header(plan, fmt, request, settings, consistent):
    """(header, style blobs) of a sequence request (protocol.py, version 5)."""
    styles = [bridge_process._read_style(p) for p, _ in request.styles]
    size = plan.width * plan.height * fmt.bpp
    header = dict(bridge_process._connection(request.address, settings), **{
        "request": "sequence",
        "strength": request.strength,
        "keep_colors": request.keep_colors,
        "color_match": request.color_match,
        "stroke_scale": request.stroke_scale,
        "consistent": bool(consistent),
        "frames": {"count": len(plan.frames), "width": plan.width, "height": plan.height,
                   "format": fmt.name, "size": size},
        "styles": [bridge_process._style_header(p, w, data)
                   for (p, w), data in zip(request.styles, styles)],
    })
    return header, styles


def stylize_frames(read_frame, plan, fmt, request, consistent=True, settings=None,
                   progress=None):
    """Stylize the plan's frames as one sequence; return their results (canvas-sized raw
    pixels in fmt, native byte order), in frame order.

    read_frame(frame) gives a frame's pixels (the layer's part, in fmt, native order); it
    is called on the caller's thread, a few frames ahead of the results, so GIMP's API is
    only used from the plug-in's main thread. progress(fraction, message) as in
    core.stylize. Raises core.StylizeError; the bridge process is always reaped. If GIMP
    ends the plug-in, the bridge's stdin closes and it cancels the whole sequence.
    """
    settings = settings or core.load_settings()
    header, styles = sequence_header(plan, fmt, request, settings, consistent)
    log = tempfile.TemporaryFile()
    try:
        proc = bridge_process._spawn_bridge(settings, log)
        try:
            return _exchange(proc, protocol.encode_request(header, styles), read_frame, plan,
                             fmt, progress)
        except protocol.ProtocolError as e:
            raise core.StylizeError(
                "The Stylize bridge (%s -m stylize.client.bridge) stopped unexpectedly (%s; exit "
                "status %s). %s\nCheck `%s -m stylize.client.bridge --check`, or reinstall with "
                "`stylize gimp install`."
                % (settings["python"], e, bridge_process._wait(proc), bridge_process._tail(log),
                   settings["python"]))
        finally:
            bridge_process._reap(proc)
    finally:
        log.close()


def _exchange(proc, request, read_frame, plan, fmt, progress):
    frames, count = plan.frames, len(plan.frames)
    writing = [True]  # False once the bridge stopped reading (its error event says why)

    def write(data):
        if not writing[0]:
            return
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (IOError, OSError):
            writing[0] = False

    def send(frame):
        pixels = on_canvas(read_frame(frame), frame, plan, fmt)
        write(core.wire_order(pixels, fmt))

    write(request)
    for frame in frames[:WINDOW]:
        send(frame)
    sent, results = min(WINDOW, count), []
    for event in protocol.read_events(proc.stdout):
        kind = event["event"]
        if kind == "progress" and progress is not None:
            progress(float(event.get("fraction", 0.0)), event.get("message", ""))
        elif kind == "frame":
            results.append(_check_frame(event, len(results), plan, fmt))
            if sent < count:
                send(frames[sent])
                sent += 1
        elif kind == "error":
            raise core.StylizeError(event.get("message") or event.get("code") or "bridge error")
        elif kind == "done":
            break
    if len(results) != count:
        raise core.StylizeError("The daemon returned %d of %d frames; update Stylize (daemon "
                                "and plug-in) to the same version." % (len(results), count))
    return results


def _check_frame(event, index, plan, fmt):
    got = (event.get("index"), event.get("width"), event.get("height"), event.get("format"))
    want = (index, plan.width, plan.height, fmt.name)
    if got != want or len(event["data"]) != plan.width * plan.height * fmt.bpp:
        raise core.StylizeError("The daemon returned frame %s as %sx%s %s for frame %d of "
                                "%dx%d %s; update Stylize (daemon and plug-in) to the same "
                                "version." % (got + want))
    return core.wire_order(event["data"], fmt)

# -*- coding: utf-8 -*-
"""The pipe protocol between the GIMP plug-in and the bridge (`python -m stylize.client.bridge`).

This module is the plug-in's half; `stylize/client/bridge.py` implements the other half.
Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).

Request, written once to the bridge's stdin:

    4-byte big-endian length N | N bytes of UTF-8 JSON header | content bytes | style bytes...

    header = {"version": 4, "address": "127.0.0.1:50051", "timeout": 600.0,
              "strength": 0.8, "keep_colors": false,
              "method": "optimize", "preset": "good", "balance": 0.5, "keep_steps": 4,
              "content": {"width": 96, "height": 64, "format": "RGBA8", "size": 24576},
              "styles": [{"name": "starry.jpg", "weight": 1.0, "size": 12345}, ...]}

    method "fast" (the default) uses strength; "optimize" uses preset (draft, good,
    best), balance (0 = the layer's content .. 1 = the style) and keep_steps (how many
    intermediate results to send, 0..20).

    The content's raw pixels (row-major, unpadded) follow the header, then each style
    file's bytes in header order; "size" gives each blob's length. "format" is one of
    the daemon's raw pixel formats: RGB8 RGBA8 GRAY8 GRAYA8 (bytes), RGB16 ... GRAYA16
    (16-bit samples), RGBF32 ... GRAYAF32 (32-bit floats); multi-byte samples are
    little-endian (core.wire_order). The result comes back in the content's format.

Events, read from the bridge's stdout: one JSON object per line, in this order:

    {"event": "progress", "fraction": 0.4, "message": "Painting… 40%"}  (zero or more)
    {"event": "step", "iteration": 100, "iterations": 300, "width": 96, "height": 64,
     "format": "PNG", "size": 5120}      followed by `size` bytes of PNG (zero or more,
                                         only when keep_steps asked for them)
    then exactly one of
    {"event": "result", "width": 96, "height": 64, "format": "RGBA8", "size": 24576,
     "seconds": 1.2}                     followed by `size` raw pixel bytes
    {"event": "error", "code": "UNAVAILABLE", "message": "what happened and what to do"}

The bridge writes its logs to stderr, never to stdout.

The style gallery (version 3): a header with "request": "list_styles" (and an optional
"thumbnail_side") has no content and no blobs; the answer is

    {"event": "styles", "styles": [{"name": "starry_night", "origin": "bundled",
     "width": 512, "height": 406, "file_bytes": 91234, "thumbnail_size": 5432,
     "thumbnail_error": ""}, ...], "size": N}      followed by N bytes: the thumbnails
                                                     (JPEG) one after the other

"request": "add_style" with "name" and one "styles" entry (the file to add, its bytes
the one blob) answers {"event": "added", "style": {...as above}, "size": N} followed
by the new style's thumbnail. A style entry of a job may be {"named": "starry_night",
"weight": 1.0, "size": 0}: a style of the daemon's library, sent by name. Any event
with a "size" is followed by that many bytes.

Lifeline (version 2): the plug-in keeps the bridge's stdin open until it has read the
final event. If the plug-in goes away first (the user cancelled in GIMP's status bar and
GIMP ended the plug-in, or GIMP quit), the pipe closes and the bridge cancels the
daemon's job at once instead of letting it run on.

Version 4 added method, preset, balance and keep_steps, and the "step" event. The
bridge also accepts version 2 and 3 requests (they run the fast method).

A sequence (version 5: the frames of a GIMP animation, stylized as one clip consistent
in time): a header with "request": "sequence", the job's fields as above (fast method
only; "consistent": false paints every frame on its own) and

    "frames": {"count": 12, "width": 96, "height": 64, "format": "RGBA8", "size": 24576}

followed by the style blobs; then the plug-in writes the frames, `size` bytes each, one
after another, and may write them as the results come back (it keeps a few frames
ahead; the bridge reads them as they arrive). The events are progress events, one

    {"event": "frame", "index": 0, "width": 96, "height": 64, "format": "RGBA8",
     "size": 24576}                      followed by `size` raw pixel bytes

per frame, in order, then {"event": "done", "frames": 12, "seconds": 3.4} or an error.
Closing stdin before "done" (GIMP ended the plug-in) cancels the whole sequence.

Regions (version 6, a job only): a style entry may carry

    "region": {"width": 96, "height": 64, "format": "GRAY8", "size": 6144}

(where that style paints: white paints, black does not, grey blends; format GRAY8,
GRAY16 or GRAYF32, little-endian like the content, at the content's size or any size with
its aspect ratio), and the header a "strength_map" of the same form (the strength per
pixel). Their bytes follow the style files: each style's region in style order, then the
strength map (mask_infos). The daemon's rules apply (stylize.v1 Mask): a region that is 0
everywhere, or of another shape, comes back as an error naming the style.
"""
import json
import struct

VERSION = 6  # 2: stdin is the lifeline; 3: gallery requests, named styles; 4: optimisation;
# 5: sequences (GIMP animations); 6: regions (masks per style, a strength map)
_LENGTH = struct.Struct(">I")
FINAL_EVENTS = ("result", "error", "styles", "added", "done")


class ProtocolError(Exception):
    """The other side broke the protocol (truncated or malformed data)."""


def encode_request(header, blobs):
    """Return the request bytes: framed JSON header followed by the blobs.

    `header` must already describe each blob's size; this is checked so a mismatch
    fails here rather than as a hang in the bridge.
    """
    content = [header["content"]["size"]] if "content" in header else []
    sizes = content + [s["size"] for s in header.get("styles", [])]
    sizes += [info["size"] for info in mask_infos(header)]
    if sizes != [len(b) for b in blobs]:
        raise ValueError("blob sizes %r do not match header sizes %r"
                         % ([len(b) for b in blobs], sizes))
    header = dict(header, version=VERSION)
    text = json.dumps(header, sort_keys=True).encode("utf-8")
    return b"".join([_LENGTH.pack(len(text)), text] + list(blobs))


def mask_infos(header):
    """The descriptions of the request's masks in the order their bytes follow the style
    files: each style's "region" in style order, then the "strength_map"."""
    infos = [s["region"] for s in header.get("styles", []) if s.get("region")]
    if header.get("strength_map"):
        infos.append(header["strength_map"])
    return infos


def read_exact(stream, size):
    """Read exactly `size` bytes from a binary stream or raise ProtocolError."""
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            raise ProtocolError("stream ended %d bytes early" % remaining)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_events(stream):
    """Yield events (dicts) from the bridge's stdout until a result or an error.

    An event with a "size" (result, step, frame, styles, added) carries that many bytes under
    the extra key "data". Raises
    ProtocolError when the stream ends before a final event or holds garbage.
    """
    while True:
        line = stream.readline()
        if not line:
            raise ProtocolError("the bridge closed its output without a result")
        try:
            event = json.loads(line.decode("utf-8"))
            kind = event["event"]
        except (ValueError, KeyError, TypeError):
            raise ProtocolError("unexpected output from the bridge: %r" % line[:200])
        if "size" in event:
            event["data"] = read_exact(stream, int(event["size"]))
        yield event
        if kind in FINAL_EVENTS:
            return

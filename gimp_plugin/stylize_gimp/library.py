# -*- coding: utf-8 -*-
"""The daemon's style library through the bridge: the gallery's list, adding a file.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import os

from .bridge_process import _connection, _read_style, run_bridge
from .naming import library_name
from .settings import load_settings

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


def add_style(path, name=None, address="", settings=None):
    """Add the image file at ``path`` to the daemon's library; returns its GalleryStyle."""
    settings = settings or load_settings()
    data = _read_style(path)
    name = name or library_name(path)
    header = dict(_connection(address, settings), request="add_style", name=name,
                  styles=[{"name": os.path.basename(path), "size": len(data)}])
    event = run_bridge(header, [data], settings)
    return _gallery_styles([event["style"]], event["data"])[0]

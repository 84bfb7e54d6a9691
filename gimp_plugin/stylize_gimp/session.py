# -*- coding: utf-8 -*-
"""One warm bridge for many small jobs: the dialog's live preview.

Standard library only; runs on Python 2.7 (GIMP 2.10) and 3.x (GIMP 3).
"""
import tempfile
import threading

from . import protocol
from .bridge_process import _check_result, _exchange, _reap, _spawn_bridge, _tail, build_request
from .errors import StylizeError
from .pixels import wire_order
from .settings import load_settings

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

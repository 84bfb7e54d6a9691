"""A terminal progress bar fed by the daemon's progress events."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, enabled: bool = True) -> None:
        self._stream = stream
        self._width = width
        self._enabled = enabled
        self._tty = stream.isatty()
        self._last_message = ""

    def update(self, fraction: float, message: str) -> None:
        if not self._enabled:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        if self._tty:
            filled = round(fraction * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            self._stream.write(f"\r[{bar}] {fraction:4.0%} {message:<40.40}")
            self._stream.flush()
        elif message != self._last_message:
            self._stream.write(f"{fraction:4.0%} {message}\n")
        self._last_message = message

    def finish(self, message: str = "done") -> None:
        self.update(1.0, message)
        if self._enabled and self._tty:
            self._stream.write("\n")

"""A terminal progress bar fed by the daemon's progress events."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


class ProgressBar:
    """One line redrawn on a terminal; elsewhere (logs, pipes) a line per step or percent.

    Off a terminal, an optimisation's iteration messages would print hundreds of lines, so
    a message that only updates the one before (same words before the first ':') prints
    once per percent of progress, or every ten seconds.
    """

    QUIET_SECONDS = 10.0

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30, enabled: bool = True) -> None:
        self._stream = stream
        self._width = width
        self._enabled = enabled
        self._tty = stream.isatty()
        self._last_message = ""
        self._last_printed = (-1, "")  # percent and the message's stage words
        self._printed_at = 0.0

    def update(self, fraction: float, message: str) -> None:
        if not self._enabled:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        if self._tty:
            filled = round(fraction * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            room = max(20, shutil.get_terminal_size().columns - self._width - 9)
            self._stream.write(f"\r[{bar}] {fraction:4.0%} {message:<{room}.{room}}")
            self._stream.flush()
        elif message != self._last_message:
            printed = (int(fraction * 100), message.split(":")[0])
            now = time.monotonic()
            if printed != self._last_printed or now - self._printed_at >= self.QUIET_SECONDS:
                self._stream.write(f"{fraction:4.0%} {message}\n")
                self._last_printed, self._printed_at = printed, now
        self._last_message = message

    def finish(self, message: str = "done") -> None:
        self.update(1.0, message)
        if self._enabled and self._tty:
            self._stream.write("\n")

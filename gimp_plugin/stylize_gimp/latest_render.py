"""One preview render at a time, always of the newest settings.

The dialog's live preview calls :meth:`LatestRender.begin` when settings change and
:meth:`LatestRender.end` when a render's result (or error) is back, both on GIMP's main
loop. A change while a render runs is remembered (only the newest: the settings are read
when the next render starts) and rendered as soon as the running one ends, so dragging a
slider shows a new preview every render time and nothing stale piles up behind it.
"""


class LatestRender(object):
    """The state of the preview's renders: idle, running, or running with a newer change."""

    def __init__(self):
        self.running = False
        self.wanted = False  # a change came while a render was running
        self.started = 0  # renders started, for the dialog's tests and the benchmark

    def begin(self):
        """Settings changed: True when the caller should start a render now."""
        if self.running:
            self.wanted = True
            return False
        self.running = True
        self.started += 1
        return True

    def end(self):
        """A render ended: True when a newer change is waiting (start its render now)."""
        self.running = False
        if not self.wanted:
            return False
        self.wanted = False
        return self.begin()

"""A job's progress on its way to the stream: bounded, coalescing, latest first to go.

The job thread puts events as fast as it makes them (an optimisation reports every
iteration, with a preview image every N); the stream sends them as fast as the client
reads. A slow reader must not make the daemon hold a backlog of images, so a new
preview replaces the one still waiting, and a new plain progress event replaces the
waiting one of the same stage. The queue thus never holds more than one preview and
one event per stage.
"""

from __future__ import annotations

import collections
import threading

from stylize.jobs.progress import Progress


class EventQueue:
    def __init__(self) -> None:
        self._items: collections.deque[Progress] = collections.deque()
        self._changed = threading.Condition()
        self._closed = False

    def put(self, progress: Progress) -> None:
        with self._changed:
            if progress.preview is not None:
                stale = [item for item in self._items if item.preview is not None]
            else:
                stale = [
                    item
                    for item in self._items
                    if item.preview is None and item.stage is progress.stage
                ]
            for item in stale:
                self._items.remove(item)
            self._items.append(progress)
            self._changed.notify()

    def close(self) -> None:
        """No more events: ``get`` returns what is left, then None."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def get(self) -> Progress | None:
        with self._changed:
            self._changed.wait_for(lambda: self._items or self._closed)
            return self._items.popleft() if self._items else None

    def __len__(self) -> int:
        return len(self._items)

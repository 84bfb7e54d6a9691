"""Reading a client's request stream with an idle timeout.

grpcio's request iterator blocks without a timeout, so a client that opens a
stream and then sends nothing would hold a server thread for as long as it
likes. A small pump thread reads the iterator into a one-message queue; the
handler waits on the queue with a timeout and gives up with
``UploadTimeoutError`` (DEADLINE_EXCEEDED), which ends the call and with it the
pump. The queue holds one message, so gRPC's flow control still throttles the
client: nothing is read ahead of the handler.

``close()`` empties the queue, so a pump waiting to hand over a message the handler
will never read (a refused setup whose content was already on its way) wakes at once
and exits. The pump holds the server's call: while it lived on, grpc core counted the
call's HTTP/2 stream against the connection's ``max_concurrent_streams``, so a client
repeating such calls on one channel got REFUSED_STREAM (UNAVAILABLE) and could leave
the connection refusing even Health.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from stylize.engine.errors import CancelledError, UploadTimeoutError

M = TypeVar("M")

_END = object()
_POLL = 0.25  # seconds between checks of `closed` while the handler is not reading


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class RequestReader(Generic[M]):
    """``next_message(what)`` returns the next message, None at the end, or times out."""

    def __init__(self, requests: Iterator[M], idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self._queue: queue.Queue[object] = queue.Queue(maxsize=1)
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._pump, args=(requests,), name="stylize-upload", daemon=True
        )
        self._thread.start()

    def _pump(self, requests: Iterator[M]) -> None:
        try:
            for message in requests:
                if not self._put(message):
                    return
            self._put(_END)
        except Exception:  # grpcio raises a bare RpcError: the call was cancelled or expired
            self._put(_Failure(CancelledError("the client went away during the upload")))

    def _put(self, item: object) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def next_message(self, what: str, timeout: float | None = None) -> M | None:
        """The next message; UploadTimeoutError after ``timeout`` (default: the idle timeout)."""
        wait = self.idle_timeout if timeout is None else timeout
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            raise UploadTimeoutError(
                f"no {what} arrived for {wait:g} s; the request was abandoned"
            ) from None
        if item is _END:
            return None
        if isinstance(item, _Failure):
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the pump: it exits at once if it was handing over a message, else once
        the call ends (which ends its wait for the next one)."""
        self._closed.set()
        while True:  # wake a pump blocked in put(): nobody will read what it holds
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

"""A background thread that performs store writes in order, off the event loop.

Campaigns persist every exchange as it happens. Doing those SQLite transactions on the event loop would stall
every in-flight attempt for the duration of each commit; on a separate thread (sqlite3 releases the GIL while it
works) the loop keeps dispatching model calls. Writes run strictly in submission order, so an attempt's
completion is never stored before its exchanges.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from types import TracebackType

logger = logging.getLogger(__name__)

Write = Callable[[], object]


class BackgroundWriter:
    """Runs submitted write callables one at a time on a daemon thread.

    A write that raises is logged and its error re-raised by :meth:`close`, so a campaign never reports success
    with writes missing.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[Write | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="nacre-store-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            write = self._queue.get()
            if write is None:
                return
            if self._error is not None:
                continue  # after a failure, later writes could break ordering guarantees: skip them
            try:
                write()
            except BaseException as exc:
                logger.error("store write failed: %s", exc)
                self._error = exc

    def submit(self, write: Write) -> None:
        """Queue a write; raises the first failed write's error, if any."""
        if self._error is not None:
            raise self._error
        self._queue.put(write)

    def close(self) -> None:
        """Wait for every queued write, stop the thread, and raise the first failed write's error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        except BaseException:
            if exc is None:
                raise

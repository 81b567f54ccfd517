"""Work a hub repeats on its own thread every few seconds (writing what it counted),
and once more when it stops, so that nothing counted is left unwritten."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from neurocache.store.database import store_busy
from neurocache.threads import Threads


class Periodic:
    def __init__(
        self,
        name: str,
        interval_s: float,
        work: Callable[[], None],
        log: logging.Logger,
        threads: Threads | None = None,
    ) -> None:
        self.name, self.interval_s, self.work, self.log = name, interval_s, work, log
        self.threads = threads or Threads()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = self.threads.start(self.name, self._loop)

    def stop(self) -> None:
        """Stop repeating, then do the work a last time (in the caller's thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.work()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.work()
            except Exception as exc:  # what was not written is kept: the next round writes it
                if store_busy(exc):
                    self.log.warning(
                        "%s: the store was busy; trying again in %ss", self.name, self.interval_s
                    )
                else:
                    self.log.exception("%s failed; trying again in %ss", self.name, self.interval_s)

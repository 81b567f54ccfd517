"""One owner of the hub's background work: every part that runs on its own (job workers,
the folder watcher, schedules, periodic writers, worker pools, model servers) is registered
with how it starts and how it stops. `start()` starts them in the order they were added;
`stop()` stops every one in the reverse order (the last started stops first, so nothing
stops while a part still hands it work), each stop guarded: one that fails is logged and
the rest still stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from neurocache.threads import Threads

log = logging.getLogger("neurocache.runtime")
# What the threads left after every part stopped get to end (a request finishing, a
# model server's output read to its end): parts join their own threads before this.
JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Part:
    name: str
    stop: Callable[[], None]
    start: Callable[[], object] | None = None  # None: it runs from when it is built


class Runtime:
    def __init__(self, threads: Threads | None = None) -> None:
        # every thread of the hub's is started through this registry (threads.py)
        self.threads = threads or Threads()
        self._parts: list[Part] = []
        self._lock = threading.Lock()
        self._stopped = False

    def add(
        self, name: str, *, stop: Callable[[], None], start: Callable[[], object] | None = None
    ) -> None:
        with self._lock:
            self._parts.append(Part(name, stop, start))

    @property
    def names(self) -> list[str]:
        return [part.name for part in self._parts]

    def start(self) -> None:
        for part in list(self._parts):
            if part.start is not None:
                part.start()

    def stop(self) -> None:
        """Every part stopped, last first; twice is once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            parts = list(reversed(self._parts))
        for part in parts:
            began = time.monotonic()
            try:
                part.stop()
            except Exception:  # the others must still stop
                log.exception("stopping %s failed", part.name)
            log.debug("%s stopped in %.0f ms", part.name, (time.monotonic() - began) * 1000)
        left = self.threads.join(JOIN_TIMEOUT_S)
        if left:  # daemon threads: they end with the process, but someone should know
            log.warning("still running after the hub stopped: %s", ", ".join(left))

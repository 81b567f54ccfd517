"""Embedding off the request path: memories written by chat (channel messages) are queued
and embedded in batches by one thread, so posting a message costs no model call.

Nothing is lost if the hub stops first: a memory without a vector is embedded by the
re-embedder at the next start (it looks for every memory the active embedder has not
embedded). An edit drops the old text's vectors with the edit (`graph.set_content`), so an
edited memory waiting here is one without a vector too."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from neurocache.threads import Threads

log = logging.getLogger("neurocache.knowledge")
BATCH = 64


class IndexLater:
    def __init__(
        self, remember: Callable[[list[str], list[str]], None], threads: Threads | None = None
    ) -> None:
        self.remember = remember
        self.threads = threads or Threads()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending = 0  # queued or being embedded
        self._idle = threading.Condition()

    def add(self, memory_id: str, text: str) -> None:
        with self._idle:
            if self._thread is None:
                self._thread = self.threads.start("index-later", self._run)
            self._pending += 1
            self._queue.put((memory_id, text))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once everything queued is embedded (for tests and shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        with self._idle:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            batch = [item]
            while len(batch) < BATCH and not self._queue.empty():
                nxt = self._queue.get()
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._embed(batch)
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()

    def _embed(self, batch: list[tuple[str, str]]) -> None:
        try:
            self.remember([i for i, _ in batch], [t for _, t in batch])
        except Exception:  # one deleted meanwhile, or the embedder failed
            if len(batch) > 1:  # the others still go in
                for item in batch:
                    self._embed([item])
                return
            log.warning(
                "embedding %d memories failed; they are retried at the next start",
                len(batch),
                exc_info=True,
            )

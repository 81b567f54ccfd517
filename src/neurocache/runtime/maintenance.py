"""Work done on a schedule while the hub runs: agents' memory consolidation, the retention
of channel messages, and any other pruning the hub hands over (`tasks`: usage roll-ups, the
audit log). Each run is also callable directly (tests, the API)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from neurocache.records import Record
from neurocache.runtime.periodic_claims import OwnTurns
from neurocache.store.types import utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.chat")


class Consolidation(Protocol):
    """What maintenance reads of an agent's consolidation (agents/records.py's)."""

    @property
    def summaries(self) -> list[str]: ...

    @property
    def archived(self) -> int: ...


class MaintenanceReport(Record):
    """What one run did: agents' working memories summarized and archived, channel
    messages past retention deleted, and each task's count by its name (a failed task's
    is missing)."""

    summaries: int
    archived: int
    messages_deleted: int
    pruned: dict[str, int]

    def did_anything(self) -> bool:
        return any((self.summaries, self.archived, self.messages_deleted, *self.pruned.values()))


class Maintenance:
    def __init__(
        self,
        *,
        interval_s: float,
        retention_days: float,
        agent_ids: Callable[[], list[str]],
        consolidate: Callable[[str, datetime], Consolidation],
        delete_messages_before: Callable[[datetime], int],
        tasks: dict[str, Callable[[datetime], int]] | None = None,
        threads: Threads | None = None,
        claims: OwnTurns | None = None,
    ) -> None:
        self.threads = threads or Threads()
        # whose turn each run is, among processes sharing a store
        self.claims = claims or OwnTurns()
        self.interval_s, self.retention_days = interval_s, retention_days
        self.agent_ids, self.consolidate = agent_ids, consolidate
        self.delete_messages_before = delete_messages_before
        self.tasks = tasks or {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> MaintenanceReport:
        now = now or utcnow()
        summaries, archived = self._consolidate_all(now)
        deleted = 0
        if self.retention_days > 0:
            deleted = self.delete_messages_before(now - timedelta(days=self.retention_days))
        return MaintenanceReport(
            summaries=summaries,
            archived=archived,
            messages_deleted=deleted,
            pruned=self._run_tasks(now),
        )

    def _consolidate_all(self, now: datetime) -> tuple[int, int]:
        """Summaries written and memories archived, over every agent."""
        summaries = archived = 0
        for agent_id in self.agent_ids():
            try:
                done = self.consolidate(agent_id, now)
            except Exception:  # one agent's failure must not stop the others'
                log.exception("consolidating the memories of agent %s failed", agent_id)
                continue
            summaries += len(done.summaries)
            archived += done.archived
        return summaries, archived

    def _run_tasks(self, now: datetime) -> dict[str, int]:
        done: dict[str, int] = {}
        for name, task in self.tasks.items():
            try:
                done[name] = task(now)
            except Exception:  # one task's failure must not stop the others'
                log.exception("maintenance task %s failed", name)
        return done

    def start(self) -> None:
        if self._thread is None:
            self._thread = self.threads.start("maintenance", self._loop)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.claims.wake_s(self.interval_s)):
            with self.claims.turn("maintenance", self.interval_s) as mine:
                if mine:
                    self._run_logged()

    def _run_logged(self) -> None:
        try:
            report = self.run_once()
            if report.did_anything():
                log.info("maintenance: %s", report)
        except Exception:
            log.exception("maintenance failed; next try in %ss", self.interval_s)

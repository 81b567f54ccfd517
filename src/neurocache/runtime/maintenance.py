"""Work done on a schedule while the hub runs: agents' memory consolidation, the retention
of channel messages, and any other pruning the hub hands over (`tasks`: usage roll-ups, the
audit log). Each run is also callable directly (tests, the API)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from neurocache.runtime.periodic_claims import OwnTurns
from neurocache.store.types import utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.chat")


class Maintenance:
    def __init__(
        self,
        *,
        interval_s: float,
        retention_days: float,
        agent_ids: Callable[[], list[str]],
        consolidate: Callable[[str, datetime], dict[str, Any]],
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

    def run_once(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        report: dict[str, Any] = {"summaries": 0, "archived": 0, "messages_deleted": 0}
        for agent_id in self.agent_ids():
            try:
                done = self.consolidate(agent_id, now)
            except Exception:  # one agent's failure must not stop the others'
                log.exception("consolidating the memories of agent %s failed", agent_id)
                continue
            report["summaries"] += len(done["summaries"])
            report["archived"] += done["archived"]
        if self.retention_days > 0:
            cutoff = now - timedelta(days=self.retention_days)
            report["messages_deleted"] = self.delete_messages_before(cutoff)
        for name, task in self.tasks.items():
            try:
                report[name] = task(now)
            except Exception:  # one task's failure must not stop the others'
                log.exception("maintenance task %s failed", name)
        return report

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
            if any(report.values()):
                log.info("maintenance: %s", report)
        except Exception:
            log.exception("maintenance failed; next try in %ss", self.interval_s)

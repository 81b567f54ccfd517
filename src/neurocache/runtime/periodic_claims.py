"""Periodic work run once per interval, by one process of those sharing a store.

A hub alone (SQLite) runs its schedules itself: every turn is its own. Hub processes
sharing a PostgreSQL store all wake for the same schedules (maintenance, each watched
folder's scan, backups), so a row per task (`periodic_claims`) says whose turn it is. A
process takes the turn with one atomic update that succeeds only when the task is due (it
last finished an interval ago) and nobody holds it (or the holder's lease lapsed); it
renews the lease while the task runs and records when it finished. So a task runs once per
interval, whichever process wakes first, and a holder killed mid-run leaves its turn to
another within a lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update

from neurocache.store.database import Database
from neurocache.store.tables import PeriodicClaim
from neurocache.store.types import utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.store")


class OwnTurns:
    """A hub alone: every turn is its own, at its interval."""

    def wake_s(self, every_s: float) -> float:
        """How often a schedule of `every_s` looks whether it is its turn."""
        return every_s

    @contextmanager
    def turn(self, name: str, every_s: float = 0.0) -> Iterator[bool]:
        """Whether this process runs `name` now (due `every_s` after its last finish)."""
        yield True


class PeriodicClaims(OwnTurns):
    """Processes sharing a store: turns taken in the store's `periodic_claims`."""

    def __init__(
        self,
        db: Database,
        *,
        lease_s: float = 60.0,
        worker_id: str = "",
        threads: Threads | None = None,
    ) -> None:
        self.db = db
        self.lease_s, self.worker_id = lease_s, worker_id
        self.threads = threads or Threads()

    def wake_s(self, every_s: float) -> float:
        """Often enough that the turn of a process that died (or woke later) is taken
        within about a quarter lease."""
        return max(1.0, min(every_s, self.lease_s / 4))

    @contextmanager
    def turn(self, name: str, every_s: float = 0.0) -> Iterator[bool]:
        """While the block runs the turn stays this process's; a block that raises
        leaves the task due again at once."""
        if not self._take(name, every_s, utcnow()):
            yield False
            return
        renewal = _Renewal(self, name)
        finished = False
        try:
            yield True
            finished = True
        finally:
            renewal.stop()
            self._release(name, finished)

    def _take(self, name: str, every_s: float, now: datetime) -> bool:
        with self.db.session() as session:
            session.execute(
                self.db.insert(PeriodicClaim).values(name=name).on_conflict_do_nothing()
            )
            taken = session.execute(
                self._mine(name, mine_already=False)
                .where(
                    or_(PeriodicClaim.lease_until.is_(None), PeriodicClaim.lease_until < now),
                    or_(
                        PeriodicClaim.done_at.is_(None),
                        PeriodicClaim.done_at <= now - timedelta(seconds=every_s),
                    ),
                )
                .values(claimed_by=self.worker_id, lease_until=self._lease_end(now))
            )
            return getattr(taken, "rowcount", 0) == 1

    def extend(self, name: str) -> bool:
        """The lease of a turn this process holds, renewed; False if it is no longer its."""
        with self.db.session() as session:
            renewed = session.execute(
                self._mine(name).values(lease_until=self._lease_end(utcnow()))
            )
            return getattr(renewed, "rowcount", 0) == 1

    def _release(self, name: str, finished: bool) -> None:
        values: dict[str, Any] = {"claimed_by": None, "lease_until": None}
        if finished:
            values["done_at"] = utcnow()
        with self.db.session() as session:
            session.execute(self._mine(name).values(**values))

    def _mine(self, name: str, mine_already: bool = True) -> Any:
        statement = update(PeriodicClaim).where(PeriodicClaim.name == name)
        if mine_already:
            statement = statement.where(PeriodicClaim.claimed_by == self.worker_id)
        return statement.execution_options(synchronize_session=False)

    def _lease_end(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_s)


class _Renewal:
    """Renews a held turn's lease every third of a lease until stopped (a chain of
    timers: no thread waits between renewals)."""

    def __init__(self, claims: PeriodicClaims, name: str) -> None:
        self.claims, self.name = claims, name
        self._lock = threading.Lock()
        self._stopped = False
        self._timer: threading.Timer | None = None
        self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            if not self._stopped:
                self._timer = self.claims.threads.later(self.claims.lease_s / 3, self._renew)

    def _renew(self) -> None:
        try:
            if not self.claims.extend(self.name):
                log.warning("the turn of %s was taken over while it ran", self.name)
        except Exception:  # a store away for a moment: the next renewal may come in time
            log.warning("renewing the turn of %s failed", self.name, exc_info=True)
        self._schedule()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

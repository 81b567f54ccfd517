"""Model servers shared by the hub processes of a team (one store, several processes).

A model's server runs in one process only, its owner: it records in the model's row where
the server listens and renews a lease while it runs. The other processes send their
requests there. When the owner dies its lease runs out, and the next process that looks
claims the model (one conditional update wins) and starts the server itself. One process
alone (SQLite) shares nothing: `enabled=False` makes every call a no-op."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update

from neurocache.store import Database
from neurocache.store.tables import Model
from neurocache.store.types import utcnow

LEASE_S = 15.0  # renewed every third of it by the owner


@dataclass(frozen=True)
class SharedServers:
    db: Database
    owner: str  # this hub process (runtime.jobs.process_id)
    enabled: bool = False
    lease_s: float = LEASE_S

    def elsewhere(self, row: Model | None) -> str | None:
        """The URL of the model's server when another live process runs it."""
        if not self.enabled or row is None or not row.server_url:
            return None
        if row.server_owner == self.owner or row.server_lease_until is None:
            return None
        return row.server_url if row.server_lease_until > utcnow() else None

    def announce(self, model_id: str, url: str) -> None:
        """Ours now, listening at `url`."""
        self._set(
            model_id,
            self._mine(),
            server_owner=self.owner,
            server_url=url,
            server_lease_until=self._until(),
        )

    def renew(self, model_ids: list[str]) -> None:
        if model_ids:
            self._set(model_ids, Model.server_owner == self.owner, server_lease_until=self._until())

    def withdraw(self, model_id: str) -> None:
        self._set(
            model_id,
            Model.server_owner == self.owner,
            server_owner=None,
            server_url=None,
            server_lease_until=None,
        )

    def claim(self, model_id: str) -> bool:
        """Whether this process may start the model's server (no live owner elsewhere)."""
        if not self.enabled:
            return True
        return (
            self._set(
                model_id, self._mine(), server_owner=self.owner, server_lease_until=self._until()
            )
            == 1
        )

    def orphans(self) -> list[str]:
        """Local models wanted running whose server nobody runs (its owner died)."""
        if not self.enabled:
            return []
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Model.id).where(
                        Model.desired_state == "running",
                        Model.state == "installed",
                        Model.source != "remote",
                        self._lapsed(utcnow()),
                    )
                )
            )

    def _mine(self) -> ColumnElement[bool]:
        return or_(Model.server_owner == self.owner, self._lapsed(utcnow()))

    @staticmethod
    def _lapsed(now: datetime) -> ColumnElement[bool]:
        return or_(
            Model.server_owner.is_(None),
            Model.server_lease_until.is_(None),
            Model.server_lease_until < now,
        )

    def _until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_s)

    def _set(self, ids: str | list[str], condition: Any, **values: Any) -> int:
        if not self.enabled:
            return 0
        chosen = [ids] if isinstance(ids, str) else ids
        with self.db.session() as session:
            done = session.execute(
                update(Model)
                .where(and_(Model.id.in_(chosen), condition))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return int(getattr(done, "rowcount", 0))

"""The audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from neurocache.store.database import Database
from neurocache.store.models import AuditEntry
from neurocache.store.paging import decode_cursor, encode_cursor
from neurocache.store.types import isoformat


@dataclass(frozen=True)
class Actor:
    """Who is acting: `owner`, `key:<id>`, `cli`, ... and the request that carried it."""

    name: str
    request_id: str | None = None


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: tuple[str, str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write an audit entry in the caller's transaction, so change and entry land together."""
    target_type, target_id = target
    session.add(
        AuditEntry(
            actor=actor.name,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            request_id=actor.request_id,
        )
    )


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "at": isoformat(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id},
        "before": entry.before,
        "after": entry.after,
        "request_id": entry.request_id,
    }


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def list(
        self, *, limit: int = 50, cursor: str | None = None, action: str | None = None,
        target_type: str | None = None, target_id: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        if cursor:
            (last_id,) = decode_cursor(cursor, 1, int)
            query = query.where(AuditEntry.id < last_id)
        for column, value in (
            (AuditEntry.action, action),
            (AuditEntry.target_type, target_type),
            (AuditEntry.target_id, target_id),
        ):
            if value is not None:
                query = query.where(column == value)
        with self._db.session() as session:
            rows = list(session.scalars(query))
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
        return [entry_view(row) for row in page], next_cursor

"""The audit log: who changed what, when, with the state before and after."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, make_url, select
from sqlalchemy.orm import Session

from neurocache.records import Record, plain
from neurocache.settings import Settings
from neurocache.store.database import Database
from neurocache.store.paging import decode_cursor, encode_cursor
from neurocache.store.records import AuditRecord, AuditTarget, SettingsChange
from neurocache.store.tables import AuditEntry, Meta
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
    before: Record | dict[str, Any] | None = None,
    after: Record | dict[str, Any] | None = None,
) -> None:
    """Write an audit entry in the caller's transaction, so change and entry land together."""
    target_type, target_id = target
    before, after = plain(before), plain(after)
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


def entry_view(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        id=str(entry.id),
        at=isoformat(entry.at),
        actor=entry.actor,
        action=entry.action,
        target=AuditTarget(type=entry.target_type, id=entry.target_id),
        before=entry.before,
        after=entry.after,
        request_id=entry.request_id,
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[builtins.list[AuditRecord], str | None]:
        """Newest first. `action` is exact (`key.create`) or a family (`key.`)."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
        if cursor:
            (last_id,) = decode_cursor(cursor, 1, int)
            query = query.where(AuditEntry.id < last_id)
        query = query.where(*_filters(action, target_type, target_id, actor, since, until))
        with self._db.session() as session:
            rows = list(session.scalars(query))
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
        return [entry_view(row) for row in page], next_cursor

    def delete_before(self, cutoff: datetime, batch: int = 1000) -> int:
        """Delete entries older than `cutoff` (the retention setting), a batch per
        transaction so a long history does not hold the store's write lock."""
        deleted = 0
        while True:
            with self._db.session() as session:
                ids = list(
                    session.scalars(
                        select(AuditEntry.id)
                        .where(AuditEntry.at < cutoff)
                        .order_by(AuditEntry.id)
                        .limit(batch)
                    )
                )
                if ids:
                    session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
            deleted += len(ids)
            if len(ids) < batch:
                return deleted


def _filters(
    action: str | None,
    target_type: str | None,
    target_id: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[Any]:
    where: list[Any] = []
    if action is not None:
        where.append(
            AuditEntry.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEntry.action == action
        )
    for column, value in (
        (AuditEntry.target_type, target_type),
        (AuditEntry.target_id, target_id),
        (AuditEntry.actor, actor),
    ):
        if value is not None:
            where.append(column == value)
    if since is not None:
        where.append(AuditEntry.at >= since)
    if until is not None:
        where.append(AuditEntry.at < until)
    return where


CONFIG_ACTOR = Actor("config")
SETTINGS_KEY = "settings"  # in `meta`: the settings of the last start


def record_settings(db: Database, settings: Settings) -> SettingsChange | None:
    """Settings come from flags, the environment and config.toml, not from a request: so at
    each start the effective ones are compared with the last start's, and a change is
    audited (`settings.update`, actor `config`) with the changed values before and after.
    Returns the change, or None."""
    current = _settings_view(settings)
    with db.session() as session:
        saved = session.get(Meta, SETTINGS_KEY)
        last = json.loads(saved.value) if saved is not None else None
        if last == current:
            return None
        changed = sorted(
            k for k in current.keys() | (last or {}).keys() if (last or {}).get(k) != current.get(k)
        )
        before = {k: last.get(k) for k in changed} if last is not None else None
        after = {k: current.get(k) for k in changed}
        record(session, CONFIG_ACTOR, "settings.update", ("settings", "hub"), before, after)
        session.merge(Meta(key=SETTINGS_KEY, value=json.dumps(current)))
    return SettingsChange(before=before, after=after)


def _settings_view(settings: Settings) -> dict[str, Any]:
    view = settings.model_dump(mode="json")
    if view.get("database_url"):  # never a password in the log
        view["database_url"] = make_url(view["database_url"]).render_as_string(hide_password=True)
    return view

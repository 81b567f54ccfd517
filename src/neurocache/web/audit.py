"""The audit log, read-only: admin scope only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from neurocache.store.records import AuditRecord
from neurocache.web.api import ApiModel, Moment, PageQuery, endpoint
from neurocache.web.auth import current_hub

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


class AuditQuery(PageQuery):
    action: str | None = Field(None, description="`key.create`, or a family: `key.`")
    target_type: str | None = Field(None, description="e.g. api_key")
    target_id: str | None = None
    actor: str | None = Field(None, description="`owner`, `key:<id>`, `cli`, `config`...")
    since: Moment | None = Field(None, description="ISO 8601: entries at or after.")
    until: Moment | None = Field(None, description="ISO 8601: entries before.")


class AuditList(ApiModel):
    entries: list[AuditRecord]
    next_cursor: str | None


@bp.get("")
@endpoint(scope="admin", query=AuditQuery, responses={200: AuditList})
def list_audit(query: AuditQuery) -> dict[str, Any]:
    """Audit entries, newest first, filtered by action, target, actor or time."""
    entries, next_cursor = current_hub().audit.list(
        limit=query.limit,
        cursor=query.cursor,
        action=query.action,
        target_type=query.target_type,
        target_id=query.target_id,
        actor=query.actor,
        since=query.since,
        until=query.until,
    )
    return {"entries": entries, "next_cursor": next_cursor}

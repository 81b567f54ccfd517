"""The audit log, read-only: admin scope only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import BaseModel, Field

from neurocache.web.api import PageQuery, endpoint
from neurocache.web.auth import current_hub

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")


class AuditQuery(PageQuery):
    action: str | None = Field(None, description="e.g. key.create")
    target_type: str | None = Field(None, description="e.g. api_key")
    target_id: str | None = None


class AuditTarget(BaseModel):
    type: str
    id: str


class AuditEntry(BaseModel):
    id: str
    at: str
    actor: str
    action: str
    target: AuditTarget
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None


@bp.get("")
@endpoint(scope="admin", query=AuditQuery, responses={200: AuditList})
def list_audit(query: AuditQuery):
    """Audit entries, newest first, filtered by action or target."""
    entries, next_cursor = current_hub().audit.list(
        limit=query.limit, cursor=query.cursor, action=query.action,
        target_type=query.target_type, target_id=query.target_id,
    )
    return {"entries": entries, "next_cursor": next_cursor}

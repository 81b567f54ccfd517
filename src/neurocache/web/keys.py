"""API keys: admin scope only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from neurocache.access.records import KeyRecord, Scope
from neurocache.web.api import ApiModel, PageQuery, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub

bp = Blueprint("keys", __name__, url_prefix="/api/v1/keys")


def _read_only() -> list[Scope]:
    return ["read"]


class NewKey(RequestModel):
    name: str = Field(min_length=1, max_length=200, description="What the key is for.")
    scopes: list[Scope] = Field(
        default_factory=_read_only,
        min_length=1,
        description="read, write, chat, admin (admin implies all).",
    )


class CreatedKey(KeyRecord):
    secret: str = Field(description="The key itself (`nc_...`): shown this once, never again.")


class KeyList(ApiModel):
    keys: list[KeyRecord]
    next_cursor: str | None


class OneKey(ApiModel):
    key: KeyRecord


@bp.get("")
@endpoint(scope="admin", query=PageQuery, responses={200: KeyList})
def list_keys(query: PageQuery) -> dict[str, Any]:
    """List API keys, newest first (revoked ones included)."""
    keys, next_cursor = current_hub().keys.list(limit=query.limit, cursor=query.cursor)
    return {"keys": keys, "next_cursor": next_cursor}


@bp.post("")
@endpoint(scope="admin", body=NewKey, responses={201: CreatedKey})
def create_key(body: NewKey) -> tuple[dict[str, Any], int]:
    """Create a key; the answer holds its secret, shown once."""
    view, secret = current_hub().keys.create(body.name, list(body.scopes), current_actor())
    return {**view.plain(), "secret": secret}, 201


@bp.get("/<key_id>")
@endpoint(scope="admin", responses={200: OneKey})
def get_key(key_id: str) -> dict[str, KeyRecord]:
    """One key (never its secret)."""
    return {"key": current_hub().keys.get(key_id)}


@bp.delete("/<key_id>")
@endpoint(scope="admin", responses={200: OneKey})
def revoke_key(key_id: str) -> dict[str, KeyRecord]:
    """Revoke a key: it stops working at once. Revoking twice is harmless."""
    return {"key": current_hub().keys.revoke(key_id, current_actor())}

"""People: named users of a shared hub, each with their own API keys (who a credential
belongs to: `GET /api/v1/session`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from neurocache.access.records import UserRecord
from neurocache.web.api import CONFLICT, ApiModel, PageQuery, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub
from neurocache.web.keys import CreatedKey, NewKey

bp = Blueprint("users", __name__, url_prefix="/api/v1")


class NewUser(RequestModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        description="How @mentions address them: a-z 0-9 _ . - (lower case).",
    )
    display_name: str | None = Field(None, max_length=200)


class UserList(ApiModel):
    users: list[UserRecord]
    next_cursor: str | None


@bp.post("/users")
@endpoint(scope="admin", body=NewUser, responses={201: UserRecord}, errors=CONFLICT)
def create_user(body: NewUser) -> tuple[UserRecord, int]:
    """A person who will use this hub with their own keys."""
    return current_hub().users.create(body.name, current_actor(), body.display_name), 201


@bp.get("/users")
@endpoint(scope="read", query=PageQuery, responses={200: UserList})
def list_users(query: PageQuery) -> dict[str, Any]:
    users, next_cursor = current_hub().users.list(limit=query.limit, cursor=query.cursor)
    return {"users": users, "next_cursor": next_cursor}


@bp.get("/users/<user_id>")
@endpoint(scope="read", responses={200: UserRecord})
def get_user(user_id: str) -> UserRecord:
    """By id or name."""
    return current_hub().users.get(user_id)


@bp.delete("/users/<user_id>")
@endpoint(scope="admin", responses={200: UserRecord}, errors=CONFLICT)
def disable_user(user_id: str) -> UserRecord:
    """Their keys are revoked at once; what they said keeps their name."""
    hub = current_hub()
    return hub.users.disable(user_id, current_actor(), hub.keys.revoke_all_of)[0]


@bp.post("/users/<user_id>/keys")
@endpoint(scope="admin", body=NewKey, responses={201: CreatedKey}, errors=CONFLICT)
def create_user_key(user_id: str, body: NewKey) -> tuple[dict[str, Any], int]:
    """A key for this person; the answer holds its secret, shown once."""
    hub = current_hub()
    view, secret = hub.keys.create(
        body.name, list(body.scopes), current_actor(), owner=hub.users.person_for_new_key(user_id)
    )
    return {**view.plain(), "secret": secret}, 201

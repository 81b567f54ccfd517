"""Pairing a browser extension: the owner asks for a short code, the extension trades it
for an API key (`read`, `write`, `chat`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from pydantic import Field

from neurocache.web.api import ApiModel, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub
from neurocache.web.keys import CreatedKey

bp = Blueprint("pairing", __name__, url_prefix="/api/v1/pairings")


class PairingCode(ApiModel):
    code: str = Field(description="Shown to the person, typed into the extension: `ABCD-EFGH`.")
    expires_in_s: float
    scopes: list[str]


class Claim(RequestModel):
    code: str = Field(min_length=4, max_length=20)
    name: str = Field("Browser extension", min_length=1, max_length=200)


@bp.post("")
@endpoint(scope="admin", responses={201: PairingCode})
def create_code() -> tuple[dict[str, Any], int]:
    """A code valid for five minutes, once, that a browser extension trades for a key."""
    return current_hub().pairings.create(current_actor()), 201


@bp.post("/claim")
@endpoint(scope=None, body=Claim, responses={201: CreatedKey})
def claim(body: Claim) -> tuple[dict[str, Any], int]:
    """Trade a pairing code for a new API key; its secret is in this answer only."""
    view, secret = current_hub().pairings.claim(body.code, body.name)
    return {**view.plain(), "secret": secret}, 201

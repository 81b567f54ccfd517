"""Captures: pages, selections and notes the browser extension sends."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from pydantic import (
    Field,
    field_validator,
)

from neurocache.knowledge.records import Accepted
from neurocache.web.api import (
    Moment,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub
from neurocache.web.documents import IDEMPOTENCY_HELP, idempotency_key, replayed

bp = Blueprint("captures", __name__, url_prefix="/api/v1")


class NewCapture(RequestModel):
    """What the browser extension sends: a page, a selection or a note."""

    url: str = Field(min_length=1, max_length=8000)
    title: str = Field("", max_length=1000)
    html: str | None = None
    text: str | None = None
    selection: str | None = None
    note: str | None = Field(None, max_length=100_000)
    captured_at: Moment | None = None
    tags: list[str] = Field(default_factory=list, max_length=100)
    collection: str | None = None
    favicon: str | None = Field(
        None, max_length=100_000, description="The page's icon: an http(s) or data: URL."
    )

    @field_validator("favicon")
    @classmethod
    def _icon_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "data:image/")):
            raise ValueError("favicon must be an http(s) or data:image/ URL")
        return value


class CaptureAccepted(Accepted):
    duplicate: bool = Field(
        description="True: the same URL with the same content was "
        "captured before; nothing new was made."
    )


@bp.post("/captures")
@endpoint(
    scope="write", body=NewCapture, responses={202: CaptureAccepted}, headers=IDEMPOTENCY_HELP
)
def add_capture(body: NewCapture) -> ResponseReturnValue:
    """Save a page, selection or note; the same content twice is kept once."""
    capture = body.model_dump(mode="json")
    return replayed(
        current_hub().knowledge.add_capture(capture, current_actor(), idempotency_key()), 202
    )

"""Health, status and the API's own description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from neurocache import __version__
from neurocache.errors import Conflict
from neurocache.search.records import IndexStatus
from neurocache.web.api import CONFLICT, ApiModel, endpoint
from neurocache.web.auth import current_hub
from neurocache.web.openapi import openapi_document

bp = Blueprint("system", __name__, url_prefix="/api/v1", template_folder="templates")


class Health(ApiModel):
    status: str
    version: str


class StoreStatus(ApiModel):
    backend: str
    schema_revision: str | None
    size_bytes: int | None
    memories: int


class ProcessStatus(ApiModel):
    pid: int  # which hub process answered (several serve one team hub)
    id: str  # host:pid:random, as it claims background work


class Status(ApiModel):
    version: str
    data_dir: str
    uptime_s: float
    pid: int
    process: ProcessStatus
    store: StoreStatus
    indexes: dict[str, IndexStatus]


@bp.get("/health")
@endpoint(scope=None, responses={200: Health})
def health() -> dict[str, str]:
    """Liveness: answers without credentials."""
    return {"status": "ok", "version": __version__}


@bp.get("/status")
@endpoint(scope="read", responses={200: Status})
def status() -> dict[str, Any]:
    """Version, data dir, store and index sizes, uptime."""
    return current_hub().status()


@bp.get("/openapi.json")
@endpoint(scope=None)
def openapi() -> dict[str, Any]:
    """This document."""
    return openapi_document(current_app)


@bp.get("/docs")
@endpoint(scope=None)
def docs() -> str:
    """The API described for people (HTML)."""
    return render_template("api_docs.html", doc=openapi_document(current_app))


@bp.post("/desktop/focus")
@endpoint(scope="admin", responses={200: None}, errors=CONFLICT)
def desktop_focus() -> dict[str, bool]:
    """Bring the desktop window forward (a second launch of the desktop app asks this)."""
    come_forward = current_hub().come_forward
    if come_forward is None:
        raise Conflict("this hub has no window: it runs as `neurocache serve`")
    come_forward()
    return {"ok": True}

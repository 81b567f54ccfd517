"""Watched folders: new, changed and deleted files follow."""

from __future__ import annotations

from flask import Blueprint
from pydantic import (
    Field,
)

from neurocache.knowledge.records import FolderRecord
from neurocache.web.api import (
    CONFLICT,
    ApiModel,
    LocalPath,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("folders", __name__, url_prefix="/api/v1")


class NewFolder(RequestModel):
    path: LocalPath = Field(description="A folder on this machine.")
    collection: str | None = Field(None, description="A collection's id or name.")


class FolderList(ApiModel):
    folders: list[FolderRecord]


@bp.post("/folders")
@endpoint(scope="admin", body=NewFolder, responses={201: FolderRecord}, errors=CONFLICT)
def watch_folder(body: NewFolder) -> tuple[FolderRecord, int]:
    """Watch a folder: its files go in now, and changes follow (owner only)."""
    owner = current_principal().kind == "owner"
    return current_hub().folders.register(
        body.path, current_actor(), collection=body.collection, owner=owner
    ), 201


@bp.get("/folders")
@endpoint(scope="read", responses={200: FolderList})
def list_folders() -> dict[str, list[FolderRecord]]:
    """The watched folders."""
    return {"folders": current_hub().folders.list()}


@bp.delete("/folders/<folder_id>")
@endpoint(scope="admin", responses={200: FolderRecord})
def unwatch_folder(folder_id: str) -> FolderRecord:
    """Stop watching a folder (its documents stay)."""
    return current_hub().folders.remove(folder_id, current_actor())

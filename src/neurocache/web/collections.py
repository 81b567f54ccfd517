"""Collections: named sets of documents that conversations, agents and searches draw on."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import (
    Field,
)

from neurocache.knowledge.records import CollectionDeleted, CollectionDetail, CollectionRecord
from neurocache.web.api import (
    CONFLICT,
    ApiModel,
    QueryModel,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub

bp = Blueprint("collections", __name__, url_prefix="/api/v1")


class NewCollection(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class CollectionList(ApiModel):
    collections: list[CollectionRecord]


@bp.post("/collections")
@endpoint(scope="write", body=NewCollection, responses={201: CollectionRecord}, errors=CONFLICT)
def create_collection(body: NewCollection) -> tuple[CollectionRecord, int]:
    """Create a named knowledge base."""
    return current_hub().knowledge.create_collection(
        body.name, body.description, current_actor()
    ), 201


class CollectionChange(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class CollectionDeletion(QueryModel):
    documents: Literal["keep", "delete"] = Field(
        "keep", description="`keep`: its documents stay, in no collection; `delete`: they go too."
    )


@bp.patch("/collections/<collection_id>")
@endpoint(scope="write", body=CollectionChange, responses={200: CollectionRecord}, errors=CONFLICT)
def update_collection(collection_id: str, body: CollectionChange) -> CollectionRecord:
    """Rename a collection or change its description (by id or name)."""
    return current_hub().knowledge.update_collection(
        collection_id, current_actor(), name=body.name, description=body.description
    )


@bp.delete("/collections/<collection_id>")
@endpoint(scope="write", query=CollectionDeletion, responses={200: CollectionDeleted})
def delete_collection(collection_id: str, query: CollectionDeletion) -> CollectionDeleted:
    """Delete a collection; its documents stay (in no collection) unless
    `?documents=delete`."""
    return current_hub().knowledge.delete_collection(
        collection_id, current_actor(), delete_documents=query.documents == "delete"
    )


@bp.get("/collections/<collection_id>")
@endpoint(scope="read", responses={200: CollectionDetail})
def get_collection(collection_id: str) -> CollectionDetail:
    """A collection (by id or name), its document count, and who draws on it."""
    return current_hub().knowledge.get_collection(collection_id)


@bp.get("/collections")
@endpoint(scope="read", responses={200: CollectionList})
def list_collections() -> dict[str, list[CollectionRecord]]:
    """Every collection, by name."""
    return {"collections": current_hub().knowledge.list_collections()}

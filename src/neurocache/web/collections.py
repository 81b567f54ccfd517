"""Collections: named sets of documents that conversations, agents and searches draw on."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import (
    BaseModel,
    Field,
)

from neurocache.web.api import (
    CONFLICT,
    QueryModel,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_actor, current_hub

bp = Blueprint("collections", __name__, url_prefix="/api/v1")


class NewCollection(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: str


class CollectionList(BaseModel):
    collections: list[CollectionOut]


@bp.post("/collections")
@endpoint(scope="write", body=NewCollection, responses={201: CollectionOut}, errors=CONFLICT)
def create_collection(body: NewCollection):
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


class ScopeUser(BaseModel):
    id: str
    name: str | None = None
    title: str | None = None


class UsedBy(BaseModel):
    agents: list[ScopeUser]
    conversations: list[ScopeUser]


class CollectionDetail(CollectionOut):
    documents: int
    used_by: UsedBy = Field(description="Agents and conversations that draw on it.")
    warning: str | None = Field(description="What deleting it does to them, for a person.")


class CollectionDeleted(CollectionOut):
    documents: int
    documents_deleted: bool
    used_by: UsedBy = Field(
        description="They draw on nothing from it now (a deleted "
        "collection stays in their lists and matches nothing: a scope "
        "never widens by itself)."
    )
    warning: str | None


@bp.patch("/collections/<collection_id>")
@endpoint(scope="write", body=CollectionChange, responses={200: CollectionOut}, errors=CONFLICT)
def update_collection(collection_id: str, body: CollectionChange):
    """Rename a collection or change its description (by id or name)."""
    return current_hub().knowledge.update_collection(
        collection_id, current_actor(), name=body.name, description=body.description
    )


@bp.delete("/collections/<collection_id>")
@endpoint(scope="write", query=CollectionDeletion, responses={200: CollectionDeleted})
def delete_collection(collection_id: str, query: CollectionDeletion):
    """Delete a collection; its documents stay (in no collection) unless
    `?documents=delete`."""
    return current_hub().knowledge.delete_collection(
        collection_id, current_actor(), delete_documents=query.documents == "delete"
    )


@bp.get("/collections/<collection_id>")
@endpoint(scope="read", responses={200: CollectionDetail})
def get_collection(collection_id: str):
    """A collection (by id or name), its document count, and who draws on it."""
    return current_hub().knowledge.get_collection(collection_id)


@bp.get("/collections")
@endpoint(scope="read", responses={200: CollectionList})
def list_collections():
    """Every collection, by name."""
    return {"collections": current_hub().knowledge.list_collections()}

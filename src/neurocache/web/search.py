"""Search: every memory, by meaning and by words (the retrieval pipeline)."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint
from pydantic import Field, StringConstraints

from neurocache.search.records import SearchResults
from neurocache.search.service import METADATA_KEY, Filters
from neurocache.web.api import (
    INT64,
    Moment,
    RequestModel,
    endpoint,
)
from neurocache.web.auth import current_hub, current_principal

bp = Blueprint("search", __name__, url_prefix="/api/v1")


MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY)]
FilterValue = (
    Annotated[str, Field(max_length=10_000)]
    | bool
    | Annotated[int, Field(ge=-INT64 - 1, le=INT64)]
    | Annotated[float, Field(ge=-1e308, le=1e308)]
)


class SearchRequest(RequestModel):
    query: str = Field(min_length=1, max_length=10_000)
    k: int = Field(10, ge=1, le=200)
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"
    collections: list[str] | None = Field(None, description="Collection ids or names.")
    kinds: list[str] | None = Field(
        None, description="Memory kinds (default: all but whole documents)."
    )
    documents: list[str] | None = None
    filters: dict[MetadataKey, FilterValue] = Field(
        default_factory=dict,
        max_length=32,
        description="Metadata fields that must equal these values (`a.b`: field `b` inside "
        "field `a`).",
    )
    since: Moment | None = Field(None, description="Only memories made at or after this.")
    until: Moment | None = Field(None, description="Only memories made before this.")
    owners: list[str] | None = Field(
        None, description="Only memories of these owners (`owner`, `user:<id>`, `agent:<id>`)."
    )
    tiers: list[Literal["working", "long_term", "personal_log", "archive"]] | None = Field(
        None, description="Only memories in these tiers (agents' memories)."
    )
    context: bool = Field(
        False,
        description="Each turn of a thread comes with the turns "
        "just before and after it (`context`).",
    )
    rerank: bool | None = Field(
        None,
        description="Order the best few again with the "
        "reranker model (default: the `rerank` setting; needs a "
        "reranker installed).",
    )


@bp.post("/search")
@endpoint(scope="read", body=SearchRequest, responses={200: SearchResults})
def search(body: SearchRequest) -> SearchResults:
    """Search every memory by meaning and by words."""
    knowledge = current_hub().knowledge
    collections = (
        [knowledge.collection_id(c) for c in body.collections] if body.collections else None
    )
    filters = Filters(
        kinds=body.kinds,
        collections=collections,
        documents=body.documents,
        metadata=body.filters,
        since=body.since,
        until=body.until,
        owners=body.owners,
        tiers=body.tiers,
    )
    hub = current_hub()
    results = hub.search.search(
        body.query,
        k=body.k,
        mode=body.mode,
        filters=filters,
        context=body.context,
        rerank=hub.rerank_wanted(body.rerank),
    )
    return SearchResults(results=hub.visibility.visible(current_principal().person, results))

"""One search over every memory: `fulltext` (BM25), `vector` (cosine), `hybrid` (both,
fused by reciprocal rank). Filters narrow by kind, collection and document."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from neurocache.search.fulltext import search_fulltext, segments
from neurocache.search.hybrid import fuse
from neurocache.search.vectors import VectorIndex
from neurocache.store import Database
from neurocache.store.models import Document, Memory, Vector

log = logging.getLogger("neurocache.search")
OVERSAMPLE = 10  # vector candidates fetched per result wanted, before filters
DEFAULT_EXCLUDED_KINDS = ("document",)  # a document's whole text would shadow its chunks


@dataclass(frozen=True)
class Filters:
    kinds: list[str] | None = None
    collections: list[str] | None = None
    documents: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL conditions on `memories m`."""
        clauses, params = [], {}
        if self.kinds:
            clauses.append("m.kind IN (SELECT value FROM json_each(:kinds))")
            params["kinds"] = _json_list(self.kinds)
        else:
            clauses.append("m.kind NOT IN (SELECT value FROM json_each(:excluded))")
            params["excluded"] = _json_list(DEFAULT_EXCLUDED_KINDS)
        for name, values in (("collection_id", self.collections),
                             ("document_id", self.documents)):
            if values:
                clauses.append(f"json_extract(m.metadata, '$.{name}') IN "
                               f"(SELECT value FROM json_each(:{name}))")
                params[name] = _json_list(values)
        for name, moment, operator in (("since", self.since, ">="), ("until", self.until, "<")):
            if moment is not None:  # stored as naive UTC text: compare in the same form
                clauses.append(f"m.created_at {operator} :{name}")
                params[name] = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        for i, (key, value) in enumerate(self.metadata.items()):
            clauses.append(f"json_extract(m.metadata, :mkey{i}) = :mval{i}")
            params[f"mkey{i}"], params[f"mval{i}"] = f"$.{key}", value
        return " AND ".join(clauses), params


class SearchService:
    def __init__(self, db: Database, index_dir: Path, embedder_name: str,
                 get_embedder: Callable[[], Any]) -> None:
        self.db = db
        self.index_dir = index_dir
        self.embedder_name = embedder_name
        self.get_embedder = get_embedder
        self._index: VectorIndex | None = None
        self._lock = threading.Lock()

    # ---- the vector index, a cache of the store
    @property
    def index_path(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.embedder_name)
        return self.index_dir / f"vectors-{safe}.faiss"

    def index(self) -> VectorIndex:
        with self._lock:
            if self._index is None:
                self._index = self._load_or_rebuild()
            return self._index

    def fingerprint(self) -> dict[str, Any]:
        with self.db.session() as session:
            count, newest = session.execute(
                select(func.count(), func.max(Vector.created_at))
                .where(Vector.embedder == self.embedder_name)).one()
        return {"embedder": self.embedder_name, "vectors": count,
                "newest": newest.isoformat() if newest else None}

    def _load_or_rebuild(self) -> VectorIndex:
        dimension = self.get_embedder().dimension
        loaded = VectorIndex.load(self.index_path, dimension)
        expected = self.fingerprint()
        if loaded is not None and loaded[1] == expected and loaded[0].size == expected["vectors"]:
            return loaded[0]
        log.info("vector index %s disagrees with the store: rebuilding", self.index_path.name)
        index = VectorIndex(dimension)
        with self.db.session() as session:
            rows = session.execute(
                select(text("memories.rowid"), Vector.vector)
                .join(Memory, Memory.id == Vector.memory_id)
                .where(Vector.embedder == self.embedder_name)).all()
        if rows:
            index.add([r for r, _ in rows],
                      np.vstack([np.frombuffer(v, dtype="<f4") for _, v in rows]))
        index.save(self.index_path, expected)
        return index

    def add(self, rowids: list[int], vectors: np.ndarray) -> None:
        self.index().add(rowids, vectors)

    def remove(self, rowids: list[int]) -> None:
        self.index().remove(rowids)

    def persist(self) -> None:
        """After a change: write the index with the store's fingerprint."""
        self.index().save(self.index_path, self.fingerprint())

    # ---- searching
    def search(self, query: str, *, k: int = 10, mode: str = "hybrid",
               filters: Filters | None = None) -> list[dict[str, Any]]:
        filters = filters or Filters()
        want = max(k * 3, 30)
        text_hits = self._fulltext(query, want, filters) if mode != "vector" else []
        vector_hits = self._vector(query, want, filters) if mode != "fulltext" else []
        highlights = {h[0]: h[2] for h in text_hits}
        if mode == "fulltext":
            ranked = [(rowid, score) for rowid, score, _ in text_hits]
        elif mode == "vector":
            ranked = vector_hits
        else:
            ranked = fuse([r for r, _, _ in text_hits], [r for r, _ in vector_hits])
        return self._results(ranked[:k], highlights)

    def _fulltext(self, query: str, limit: int, filters: Filters) -> list[tuple[int, float, str]]:
        where, params = filters.where()
        with self.db.session() as session:
            hits = search_fulltext(session, query, limit, where, params)
        return [(h.rowid, h.score, h.highlight) for h in hits]

    def _vector(self, query: str, limit: int, filters: Filters) -> list[tuple[int, float]]:
        vector = self.get_embedder().embed([query])[0]
        found = self.index().search(vector, limit * OVERSAMPLE)
        with self.db.session() as session:
            allowed = set(self._candidates(session, filters, [r for r, _ in found]) or [])
        return [(rowid, score) for rowid, score in found if rowid in allowed][:limit]

    @staticmethod
    def _candidates(session: Session, filters: Filters, among: list[int]) -> list[int]:
        where, params = filters.where()
        params["among"] = _json_list(among)
        return list(session.scalars(text(
            f"SELECT m.rowid FROM memories m WHERE {where} "
            "AND m.rowid IN (SELECT value FROM json_each(:among))"), params))

    def _results(self, ranked: list[tuple[int, float]],
                 highlights: dict[int, str]) -> list[dict[str, Any]]:
        if not ranked:
            return []
        with self.db.session() as session:
            rows = session.execute(
                select(text("memories.rowid"), Memory)
                .where(text("memories.rowid IN (SELECT value FROM json_each(:ids))"))
                .params(ids=_json_list([r for r, _ in ranked]))).all()
            memories = {rowid: memory for rowid, memory in rows}
            doc_ids = {m.meta.get("document_id") for m in memories.values()} - {None}
            documents = {d.id: d for d in session.scalars(
                select(Document).where(Document.id.in_(doc_ids)))}
        return [_result(memories[rowid], score, documents, highlights.get(rowid))
                for rowid, score in ranked if rowid in memories]


def _result(memory: Memory, score: float, documents: dict[str, Document],
            highlight: str | None) -> dict[str, Any]:
    meta = memory.meta or {}
    document = documents.get(meta.get("document_id", ""))
    result: dict[str, Any] = {"memory_id": memory.id, "kind": memory.kind,
                              "text": memory.content, "score": round(score, 6)}
    if document is not None:
        result["document"] = {"id": document.id, "title": document.title, "url": document.url,
                              "path": document.path, "page": meta.get("page")}
    for key in ("start", "end"):
        if key in meta:
            result[key] = meta[key]
    if highlight:
        result["highlights"] = segments(highlight)
    return result


def _json_list(values: Any) -> str:
    return json.dumps(list(values))

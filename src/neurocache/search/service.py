"""One search over every memory: `fulltext` (BM25), `vector` (cosine), `hybrid` (both,
fused by reciprocal rank). Filters narrow by kind, collection and document."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import func, select, text

from neurocache.errors import InvalidInput
from neurocache.search.fulltext import search_fulltext, segments
from neurocache.search.passages import Source, source_of
from neurocache.search.pgvector import KIND, PgVectorIndex
from neurocache.search.pipeline import Pipeline, Weights
from neurocache.search.query import Query
from neurocache.search.records import ContextTurn, IndexStatus, ResultDocument, SearchResult
from neurocache.search.vectors import EXACT, TRAINING_POINTS_PER_LIST, IndexPolicy, VectorIndex
from neurocache.store import Database
from neurocache.store.sql import Sql
from neurocache.store.tables import UNEMBEDDED_KINDS, Memory, Vector
from neurocache.threads import Threads

log = logging.getLogger("neurocache.search")
# A metadata field a filter names: `project`, or `source.app` for a field inside a field.
METADATA_KEY = r"^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$"
FIRST_ASK = 2  # vector candidates asked per result wanted; filters may drop some


# What the pipeline reads of a candidate: no whole metadata (decoding it for every
# candidate cost more than the search), only the fields it uses.
def row_columns(sql: Sql) -> str:
    meta = [
        sql.json_field("m.metadata", name, cast)
        for name, cast in (
            ("document_id", None),
            ("start", "bigint"),
            ("end", "bigint"),
            ("at", None),
            ("page", "bigint"),
        )
    ]
    return (
        f"m.rowid, m.id, m.kind, m.thread, m.position, m.speaker, {', '.join(meta)}, "
        "m.created_at, m.content_hash, m.content, m.owner, m.tier"
    )


@dataclass(frozen=True)
class Row:
    """What the pipeline reads of a memory."""

    rowid: int
    id: str
    kind: str
    thread: str | None
    position: float | None
    speaker: str | None
    meta: dict[str, Any]  # document_id, start, end, at, page: those it has
    created_at: datetime | str | None  # as the store gives it (parsed when needed)
    content_hash: str
    content: str
    owner: str = "owner"
    tier: str | None = None


class DocumentRef(NamedTuple):
    """What a result names of the document its chunk is from."""

    id: str
    title: str | None
    url: str | None
    path: str | None


CONTEXT_CHARS = 300  # of the turn a turn replies to, embedded with it


def _previous(row: Row, candidates: Any) -> Row | None:
    place = (row.position or 0.0, row.rowid)
    return max(
        (n for n in candidates if n.thread == row.thread and (n.position or 0.0, n.rowid) < place),
        key=lambda n: (n.position or 0.0, n.rowid),
        default=None,
    )


def _row(values: Any) -> Row:
    (
        rowid,
        memory_id,
        kind,
        thread,
        position,
        speaker,
        document_id,
        start,
        end,
        at,
        page,
        created,
        digest,
        content,
        owner,
        tier,
    ) = values
    meta = {
        name: value
        for name, value in (
            ("document_id", document_id),
            ("start", start),
            ("end", end),
            ("at", at),
            ("page", page),
        )
        if value is not None
    }
    return Row(
        rowid,
        memory_id,
        kind,
        thread,
        position,
        speaker,
        meta,
        created,
        digest,
        content,
        owner,
        tier,
    )


@dataclass(frozen=True)
class Filters:
    kinds: list[str] | None = None
    collections: list[str] | None = None
    documents: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    owners: list[str] | None = None  # "owner", "user:<id>", "agent:<id>", ...
    tiers: Sequence[str] | None = None  # working, long_term, personal_log, archive

    @property
    def narrows(self) -> bool:
        """Whether these filters pass over more than the default-excluded kinds (which are
        never embedded, so the vector index holds nothing they would drop)."""
        return bool(
            self.kinds
            or self.collections
            or self.documents
            or self.metadata
            or self.since
            or self.until
            or self.owners
            or self.tiers
        )

    def where(self, sql: Sql) -> tuple[str, dict[str, Any]]:
        """SQL conditions on `memories m`, in the store's dialect."""
        clauses, params = [], {}
        if self.kinds:
            clauses.append(sql.in_values("m.kind", "kinds"))
            params["kinds"] = sql.values(self.kinds)
        else:
            clauses.append(sql.in_values("m.kind", "excluded", negate=True))
            params["excluded"] = sql.values(UNEMBEDDED_KINDS)
        for name, values in (("collection_id", self.collections), ("document_id", self.documents)):
            if values:
                clauses.append(sql.in_values(sql.json_field("m.metadata", name), name))
                params[name] = sql.values(values)
        for column, chosen in (("owner", self.owners), ("tier", self.tiers)):
            if chosen:
                clauses.append(sql.in_values(f"m.{column}", f"{column}s"))
                params[f"{column}s"] = sql.values(chosen)
        for name, moment, operator in (("since", self.since, ">="), ("until", self.until, "<")):
            if moment is not None:  # stored as naive UTC text: compare in the same form
                clauses.append(f"m.created_at {operator} :{name}")
                params[name] = moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        for i, (key, value) in enumerate(self.metadata.items()):
            clauses.append(sql.json_path_equals("m.metadata", f"mkey{i}", f"mval{i}"))
            params[f"mkey{i}"] = sql.json_path(metadata_parts(key))
            params[f"mval{i}"] = sql.json_value(value)
        return " AND ".join(clauses), params


def metadata_parts(key: str) -> list[str]:
    """`source.app` → `["source", "app"]`, checked first, so no key can make a JSON path
    the database refuses (an empty key, `[0]`, a quote): each part is bound, never
    written into the SQL."""
    if not re.match(METADATA_KEY, key):
        raise InvalidInput(
            f"{key!r} cannot name a metadata field: use letters, digits, `_` "
            "and `-`, with `.` between the parts of a nested field",
            details={"field": "filters", "key": key},
        )
    return key.split(".")


class SearchService:
    def __init__(
        self,
        db: Database,
        index_dir: Path,
        embedder_name: str,
        get_embedder: Callable[[], Any],
        policy: IndexPolicy | None = None,
        save_interval_s: float = 60.0,
        weights: Weights | None = None,
        embed_context: bool = False,
        threads: Threads | None = None,
        vector_backend: str = "faiss",
    ) -> None:
        self.threads = threads or Threads()
        self.vector_backend = vector_backend  # faiss (files, this process) | pgvector
        self.embed_context = embed_context  # embed turns with the turn they reply to
        self.db = db
        self.index_dir = index_dir
        self.embedder_name = embedder_name
        self.get_embedder = get_embedder
        self.policy = policy or IndexPolicy()
        self.save_interval_s = save_interval_s
        self._index: VectorIndex | PgVectorIndex | None = None
        self._lock = threading.RLock()
        self._saving = threading.Lock()
        self._pending: list[tuple[str, tuple]] | None = None  # changes during a rebuild
        self._saved_at = time.monotonic()
        self._dirty = False
        self._legs = self.threads.pool("search", 4)
        self.pipeline = Pipeline(self, weights or Weights())  # Hub sets its reranker

    # ---- the vector index, a cache of the store
    @property
    def index_path(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.embedder_name)
        return self.index_dir / f"vectors-{safe}.faiss"

    def index(self) -> VectorIndex | PgVectorIndex:
        with self._lock:
            if self._index is None:
                self._index = (
                    PgVectorIndex(
                        self.db,
                        self.embedder_name,
                        self.get_embedder().dimension,
                        ef_search=self.policy.ef_search,
                    )
                    if self.in_postgresql
                    else self._load_checked()
                )
            return self._index

    def _stored_count(self) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).where(Vector.embedder == self.embedder_name))
                or 0
            )

    @property
    def in_postgresql(self) -> bool:
        """Whether the vectors are searched in the store itself (pgvector)."""
        return self.vector_backend == "pgvector"

    def fingerprint(self) -> dict[str, Any]:
        with self.db.session() as session:
            count, newest = session.execute(
                select(func.count(), func.max(Vector.created_at)).where(
                    Vector.embedder == self.embedder_name
                )
            ).one()
        return {
            "embedder": self.embedder_name,
            "vectors": count,
            "newest": newest.isoformat() if newest else None,
        }

    def _load_checked(self) -> VectorIndex:
        """The saved index when it agrees with the store; topped up when it is only behind
        or ahead (a crash between saves); rebuilt when damaged or of the wrong kind."""
        dimension = self.get_embedder().dimension
        expected = self.fingerprint()
        loaded = VectorIndex.load(self.index_path, dimension, self.policy.nprobe)
        if loaded is not None and loaded[1] == expected and loaded[0].size == expected["vectors"]:
            return loaded[0]
        if loaded is not None and self.policy.fits(loaded[0], expected["vectors"]):
            index = loaded[0]
            added, removed = self._top_up(index, loaded[1].get("newest"))
            log.info(
                "vector index %s topped up: %d added, %d removed",
                self.index_path.name,
                added,
                removed,
            )
        else:
            log.info(
                "vector index %s missing, damaged or outgrown: rebuilding", self.index_path.name
            )
            index = self._build(dimension)
        index.save(self.index_path, expected)
        return index

    def _build(self, dimension: int) -> VectorIndex:
        rowids, vectors = self._stored_vectors()
        count = len(rowids)
        if self.policy.kind_for(count) == EXACT:
            index = VectorIndex.exact(dimension)
        else:
            lists = self.policy.lists_for(count)
            picked = np.random.default_rng(0).choice(
                count, min(count, lists * TRAINING_POINTS_PER_LIST), replace=False
            )
            index = VectorIndex.inverted(vectors[np.sort(picked)], lists, self.policy.nprobe)
        index.add(rowids.tolist(), vectors)
        return index

    def _top_up(self, index: VectorIndex, saved_newest: str | None) -> tuple[int, int]:
        """Adds what the index lacks, removes what the store lost, and re-adds what changed
        after the save: SQLite may give a deleted memory's rowid to a new one."""
        rowid = (
            select(text("memories.rowid"))
            .select_from(Vector)
            .join(Memory, Memory.id == Vector.memory_id)
            .where(Vector.embedder == self.embedder_name)
        )
        with self.db.session() as session:
            stored = set(session.scalars(rowid))
            newer = (
                set(
                    session.scalars(
                        rowid.where(Vector.created_at > datetime.fromisoformat(saved_newest))
                    )
                )
                if saved_newest
                else stored
            )
        present = set(index.ids().tolist())
        extra, missing = sorted(present - stored), sorted((stored - present) | newer)
        index.remove(extra)
        for start in range(0, len(missing), 10_000):
            rowids, vectors = self._stored_vectors(missing[start : start + 10_000])
            index.add(rowids.tolist(), vectors)
        return len(missing), len(extra)

    def _stored_vectors(self, among: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rowids, matrix) of the vectors this embedder made; all of them, or `among`."""
        query = (
            select(text("memories.rowid"), Vector.vector)
            .join(Memory, Memory.id == Vector.memory_id)
            .where(Vector.embedder == self.embedder_name)
        )
        if among is not None:
            sql = self.db.sql
            query = query.where(text(sql.in_values("memories.rowid", "among"))).params(
                among=sql.values(among)
            )
        with self.db.session() as session:
            rows = session.execute(query).all()
        dimension = self.get_embedder().dimension
        matrix = np.frombuffer(b"".join(v for _, v in rows), dtype="<f4")
        return (
            np.fromiter((r for r, _ in rows), dtype=np.int64, count=len(rows)),
            matrix.reshape(len(rows), dimension),
        )

    def add(self, rowids: list[int], vectors: np.ndarray) -> None:
        self._change("add", rowids, vectors)

    def index_stored(self, rowids: list[int]) -> None:
        """Add the stored vectors of these memories (this embedder's) to the index."""
        found, matrix = self._stored_vectors(among=rowids)
        if len(found):
            self.add([int(r) for r in found], matrix)

    def remove(self, rowids: list[int]) -> None:
        self._change("remove", rowids)

    def _change(self, operation: str, *args: Any) -> None:
        with self._lock:
            getattr(self.index(), operation)(*args)
            self._dirty = True
            if self._pending is not None:
                self._pending.append((operation, args))

    def checkpoint(self) -> None:
        """After a batch of changes. The store is the truth and start-up tops the index up,
        so saving now and then is enough; an index that outgrew its kind is rebuilt in the
        background while searches go on with the old one."""
        index = self.index()
        if not isinstance(index, VectorIndex):
            return  # pgvector: the store is the index
        if not self.policy.fits(index, index.size):
            self._start_rebuild()
        elif time.monotonic() - self._saved_at >= self.save_interval_s:
            self.save()

    def close(self) -> None:
        self._legs.shutdown(wait=True)
        self.save()

    def save(self) -> None:
        with self._saving:  # one save at a time: they share the files
            with self._lock:
                if not isinstance(self._index, VectorIndex) or not self._dirty:
                    return
                index, fingerprint, self._dirty = self._index, self.fingerprint(), False
            index.save(self.index_path, fingerprint)
            self._saved_at = time.monotonic()

    def _start_rebuild(self) -> None:
        with self._lock:
            if self._pending is not None:
                return  # one already runs
            self._pending = []
        self.threads.start("vector-index-rebuild", self._rebuild)

    def _rebuild(self) -> None:
        try:
            fresh = self._build(self.index().dimension)
        except Exception:
            log.exception("rebuilding the vector index failed; the old one stays")
            with self._lock:
                self._pending = None
            return
        with self._lock:
            for operation, args in self._pending or []:  # replayed: add and remove are
                getattr(fresh, operation)(*args)  # idempotent, so overlap is harmless
            self._pending, self._index, self._dirty = None, fresh, True
        log.info("vector index rebuilt: %s, %d vectors", fresh.kind, fresh.size)
        self.save()

    def status(self) -> IndexStatus:
        if self.in_postgresql:  # known without loading the embedder
            return IndexStatus(size_bytes=0, loaded=True, kind=KIND, vectors=self._stored_count())
        path = self.index_path
        size = path.stat().st_size if path.is_file() else 0
        index = self._index
        if index is None:
            return IndexStatus(size_bytes=size, loaded=False)
        return IndexStatus(
            size_bytes=size,
            loaded=True,
            kind=index.kind,
            vectors=index.size,
            lists=index.lists,
            rebuilding=self._pending is not None,
        )

    # ---- searching
    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        context: bool = False,
        rerank: bool = False,
        highlights: bool = True,
    ) -> list[SearchResult]:
        """The retrieval pipeline's best `k` (search/pipeline.py), as results; `context`:
        each turn with its neighbours in its thread; `rerank`: the reranker orders the
        best few again (when one is chosen); `highlights`: the matched words marked (a
        person reads them; a prompt does not need them)."""
        filters = filters or Filters()
        if filters.kinds and "document" in filters.kinds:
            return self._documents(query, k, mode, filters)
        return self._search(query, k, mode, filters, context, rerank, highlights)

    def passages(self, query: str, collections: list[str] | None, k: int) -> list[Source]:
        """The `k` passages of the knowledge base (document chunks, in `collections` or all)
        most relevant to `query`, best first, by hybrid search: what every reply cites.
        A query with nothing to look for ("hi!") has none."""
        if k == 0 or not query.strip():
            return []
        try:
            results = self.search(
                query,
                k=k,
                mode="hybrid",
                filters=Filters(kinds=["chunk"], collections=collections),
                highlights=False,
            )
        except InvalidInput:
            return []
        return [source_of(r) for r in results]

    def _documents(self, query: str, k: int, mode: str, filters: Filters) -> list[SearchResult]:
        """Documents are found through their chunks (a document's whole text is in no
        index): each document once, as its best passage, beside the other kinds asked."""
        kinds = [kind for kind in filters.kinds or [] if kind != "document"]
        chunks_asked = "chunk" in kinds
        found = self._search(
            query,
            k * 4,
            mode,
            replace(filters, kinds=[*kinds, "chunk"] if not chunks_asked else kinds),
        )
        results: list[SearchResult] = []
        documents: set[str] = set()
        for result in found:
            document = result.document
            if result.kind != "chunk" or chunks_asked or document is None:
                results.append(result)
            elif document.id not in documents:
                documents.add(document.id)
                results.append(
                    result.model_copy(
                        update={
                            "memory_id": document.id,
                            "kind": "document",
                            "passage_id": result.memory_id,
                        }
                    )
                )
        return results[:k]

    def _search(
        self,
        query: str,
        k: int,
        mode: str,
        filters: Filters,
        context: bool = False,
        rerank: bool = False,
        highlights: bool = True,
    ) -> list[SearchResult]:
        ranked = self.pipeline.run(query, k, mode, filters, rerank=rerank, highlight=highlights)
        results = self._results(ranked.hits, ranked.highlights, ranked.rows)
        return self._with_context(results) if context else results

    # ---- the legs the pipeline stands on (search.pipeline.Legs)
    def embed_query(self, text_: str) -> np.ndarray:
        vector: np.ndarray = self.get_embedder().embed([text_])[0]
        return vector

    def submit(self, function: Callable[..., Any], *args: Any) -> Any:
        return self._legs.submit(function, *args)

    def fulltext(
        self,
        query: Query,
        limit: int,
        filters: Filters,
        among: list[int] | None = None,
        highlight: bool = True,
    ) -> list[tuple[int, float, str]]:
        sql = self.db.sql
        where, params = filters.where(sql)
        if among is not None:
            where += " AND " + sql.in_values("m.rowid", "among")
            params["among"] = sql.values(among)
        hits = search_fulltext(
            self.db.fetch, self.db.engine.dialect.name, query, limit, where, params, highlight
        )
        return [(h.rowid, h.score, h.highlight) for h in hits]

    def nearest(self, vector: np.ndarray, limit: int, filters: Filters) -> list[tuple[int, float]]:
        """Nearest first. With filters: a few more than wanted, kept if the filters let
        enough through; else one search among the rowids the filters allow."""
        index = self.index()
        if isinstance(index, PgVectorIndex):  # the filters go into the same statement
            where, params = filters.where(self.db.sql)
            return index.search(vector, limit, where, params)
        found = index.search(vector, limit * FIRST_ASK)
        if not filters.narrows:
            return found[:limit]
        allowed = set(self._candidates(filters, [r for r, _ in found]))
        hits = [(rowid, score) for rowid, score in found if rowid in allowed][:limit]
        if len(hits) >= limit or len(found) >= index.size:
            return hits
        return index.search(vector, limit, among=self._allowed(filters))

    def similarities(self, vector: np.ndarray, rowids: list[int]) -> dict[int, float]:
        """Cosine of the query and each of these memories' stored vectors (those that
        have one by this embedder)."""
        if not rowids:
            return {}
        found, vectors = self.index().vectors(rowids)
        if not found:
            return {}
        scores = vectors @ vector.astype(np.float32)
        return {int(r): float(s) for r, s in zip(found, scores, strict=True)}

    def rows(self, rowids: list[int]) -> dict[int, Row]:
        if not rowids:
            return {}
        sql = self.db.sql
        found = self.db.fetch(
            f"SELECT {row_columns(sql)} FROM memories m WHERE {sql.in_values('m.rowid', 'ids')}",
            {"ids": sql.values(rowids)},
        )
        return {r[0]: _row(r) for r in found}

    def neighbours(
        self, rows: list[Row], before: int, after: int, filters: Filters
    ) -> dict[int, Row]:
        """Up to `before` turns before and `after` turns after each of `rows` in its
        thread (by position, then rowid), that the filters let through: one statement."""
        sql = self.db.sql
        where, params = filters.where(sql)
        places = json.dumps([[r.thread, r.position, r.rowid] for r in rows])
        thread, position = sql.json_item("w", 0, "text"), sql.json_item("w", 1, "float")
        rowid = sql.json_item("w", 2, "bigint")
        near = (
            f"SELECT n.rowid FROM memories n WHERE n.thread = {thread} "
            f"AND (n.position {{op}} {position} OR (n.position = {position} "
            f"AND n.rowid {{op}} {rowid}))"
            " ORDER BY n.position {order}, n.rowid {order} LIMIT {limit}"
        )
        with self.db.session() as session:
            found = session.execute(
                text(
                    f"SELECT DISTINCT {row_columns(sql)} FROM {sql.json_rows('places', 'w')} "
                    "JOIN memories m ON (m.rowid IN ("
                    + near.format(op="<", order="DESC", limit=before)
                    + ") OR m.rowid IN ("
                    + near.format(op=">", order="ASC", limit=after)
                    + f")) WHERE {where}"
                ),
                {**params, "places": places},
            ).all()
        return {r[0]: _row(r) for r in found}

    def embedding_inputs(self, memory_ids: list[str], texts: list[str]) -> list[str]:
        """What to embed for each memory: a turn of a thread with its speaker and the turn
        it replies to (a short answer means little alone); anything else as it is."""
        if not self.embed_context:
            return list(texts)
        sql = self.db.sql
        with self.db.session() as session:
            ids: dict[str, int] = dict(
                session.execute(
                    text(
                        f"SELECT id, rowid FROM memories WHERE {self.db.sql.in_values('id', 'ids')}"
                    ),
                    {"ids": sql.values(memory_ids)},
                ).all()
            )
        rows = self.rows(list(ids.values()))
        turns = [r for r in rows.values() if r.thread and not r.thread.startswith("document:")]
        turn_rowids = {r.rowid for r in turns}
        before = self.neighbours(turns, 1, 0, Filters(kinds=None)) if turns else {}
        inputs = []
        for memory_id, text_ in zip(memory_ids, texts, strict=True):
            row = rows.get(ids.get(memory_id, -1))
            if row is None or row.rowid not in turn_rowids:
                inputs.append(text_)
                continue
            previous = _previous(row, before.values())
            said = f"{row.speaker}: {text_}" if row.speaker else text_
            inputs.append(
                said
                if previous is None
                else f"{said}\n(replying to {previous.speaker or 'someone'}: "
                f"{previous.content[:CONTEXT_CHARS]})"
            )
        return inputs

    def _with_context(self, results: list[SearchResult]) -> list[SearchResult]:
        """Each turn with its neighbours in its thread (the one before, the one after), so
        an answer sees what the turn replies to and what came of it."""
        around = self._contexts([r.memory_id for r in results])
        return [
            r.model_copy(update={"context": around[r.memory_id]}) if r.memory_id in around else r
            for r in results
        ]

    def _contexts(self, memory_ids: list[str]) -> dict[str, list[ContextTurn]]:
        """The neighbours of those of `memory_ids` that are turns (of a thread), by id."""
        with self.db.session() as session:
            ids = session.execute(
                text(f"SELECT id, rowid FROM memories WHERE {self.db.sql.in_values('id', 'ids')}"),
                {"ids": self.db.sql.values(memory_ids)},
            ).all()
        rows = self.rows([rowid for _id, rowid in ids])
        turns = [row for row in rows.values() if row.thread is not None]
        around = self.neighbours(turns, 1, 1, Filters(kinds=None))
        return {row.id: _context(row, around.values()) for row in turns}

    def _allowed(self, filters: Filters) -> list[int]:
        where, params = filters.where(self.db.sql)
        return [
            r for (r,) in self.db.fetch(f"SELECT m.rowid FROM memories m WHERE {where}", params)
        ]

    def _candidates(self, filters: Filters, among: list[int]) -> list[int]:
        """Those of `among` the filters let through."""
        sql = self.db.sql
        where, params = filters.where(sql)
        params["among"] = sql.values(among)
        return [
            r
            for (r,) in self.db.fetch(
                f"SELECT m.rowid FROM memories m WHERE {where} "
                f"AND {sql.in_values('m.rowid', 'among')}",
                params,
            )
        ]

    def _results(
        self,
        ranked: list[tuple[int, float]],
        highlights: dict[int, str],
        rows: dict[int, Row] | None = None,
    ) -> list[SearchResult]:
        """The results, from the rows the pipeline read (else read now) and their
        documents."""
        if not ranked:
            return []
        rows = rows if rows is not None else self.rows([r for r, _ in ranked])
        doc_ids = {rows[r].meta.get("document_id") for r, _ in ranked if r in rows} - {None}
        documents = (
            {
                d[0]: DocumentRef(*d)
                for d in self.db.fetch(
                    "SELECT id, title, url, path FROM documents WHERE "
                    + self.db.sql.in_values("id", "ids"),
                    {"ids": self.db.sql.values(sorted(doc_ids))},
                )
            }
            if doc_ids
            else {}
        )
        return [
            _result(rows[rowid], score, documents, highlights.get(rowid))
            for rowid, score in ranked
            if rowid in rows
        ]


def _context(row: Row, around: Iterable[Row]) -> list[ContextTurn]:
    """The turns of `around` just before and just after `row` in its thread."""
    place = (row.position or 0.0, row.rowid)
    same = [n for n in around if n.thread == row.thread and n.id != row.id]
    before = max(
        (n for n in same if (n.position or 0.0, n.rowid) < place),
        key=lambda n: (n.position or 0.0, n.rowid),
        default=None,
    )
    after = min(
        (n for n in same if (n.position or 0.0, n.rowid) > place),
        key=lambda n: (n.position or 0.0, n.rowid),
        default=None,
    )
    return [
        ContextTurn(
            memory_id=n.id,
            speaker=n.speaker,
            at=_text(n.meta.get("at")),
            text=n.content,
            place=where,
        )
        for n, where in ((before, "before"), (after, "after"))
        if n is not None
    ]


def _result(
    row: Row, score: float, documents: dict[str, DocumentRef], highlight: str | None
) -> SearchResult:
    meta = row.meta
    document = documents.get(meta.get("document_id", ""))
    return SearchResult(
        memory_id=row.id,
        kind=row.kind,
        text=row.content,
        score=round(score, 6),
        owner=row.owner,
        tier=row.tier,
        document=None
        if document is None
        else ResultDocument(
            id=document.id,
            title=document.title,
            url=document.url,
            path=document.path,
            page=_whole(meta.get("page")),
        ),
        start=_whole(meta.get("start")),
        end=_whole(meta.get("end")),
        highlights=segments(highlight) if highlight else None,
    )


# Metadata is what clients wrote: a field of another type than the result declares is
# left out (SQLite gives it as written; PostgreSQL casts the numbers, gives `at` as text).
def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)

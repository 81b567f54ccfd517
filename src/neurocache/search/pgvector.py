"""The vector index kept in PostgreSQL itself (`vector_backend = "pgvector"`): each stored
embedding has a pgvector column beside it (migration 0012), so a search on any hub process
sees every write the moment its transaction commits: nothing to load, save or follow.

One HNSW index per embedder, on the column cast to the embedder's dimension and limited to
its rows (pgvector indexes one dimension at a time; the embedder can change). Filters are
pushed into the same SQL statement; when a narrow filter leaves HNSW's candidates short of
`limit`, the statement runs again without the index: an exact scan of what the filter
allows, as the FAISS backend does (docs/decisions/0013-team-scale.md)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sqlalchemy import text

from neurocache.store import Database
from neurocache.store.sql import vector_text

KIND = "hnsw"
EF_SEARCH_MAX = 1000  # pgvector's own limit


class PgVectorIndex:
    """The part of `VectorIndex` search uses, answered by SQL (adds and removes are the
    store's own writes: nothing to do here)."""

    kind = KIND
    lists = 0

    def __init__(
        self, db: Database, embedder_name: str, dimension: int, ef_search: int = 400
    ) -> None:
        self.db, self.embedder_name, self.dimension = db, embedder_name, int(dimension)
        # candidates per HNSW search (pgvector's default, 40, recalls 0.52 of the exact
        # top 10 at 100k vectors; 400, 0.98: decision 0013)
        self.ef_search = int(ef_search)
        self._embedder = "'" + embedder_name.replace("'", "''") + "'"  # a literal, escaped
        self._column = f"CAST(v.embedding AS vector({self.dimension}))"
        self.ensure_index()

    @property
    def index_name(self) -> str:
        safe = re.sub(r"[^a-z0-9_]", "_", self.embedder_name.lower())[:40]
        return f"ix_vectors_hnsw_{safe}_{self.dimension}"

    def ensure_index(self) -> None:
        """The embedder's HNSW index, made once (cosine: the vectors are unit length)."""
        column = f"(CAST(embedding AS vector({self.dimension})))"
        with self.db.engine.begin() as connection:
            connection.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS {self.index_name} ON vectors USING hnsw "
                    f"({column} vector_cosine_ops) "
                    f"WHERE embedder = {self._embedder} AND dimension = {self.dimension}"
                )
            )

    @property
    def size(self) -> int:
        return int(
            self.db.fetch(
                f"SELECT count(*) FROM vectors WHERE embedder = {self._embedder} "
                f"AND embedding IS NOT NULL"
            )[0][0]
        )

    def add(self, rowids: list[int], vectors: np.ndarray) -> None:
        """Stored already (the store writes the column with the vector)."""

    def remove(self, rowids: list[int]) -> None:
        """Gone already (a memory's vector row goes with it)."""

    def save(self, *_args: Any) -> None:
        """Nothing to save: PostgreSQL holds it."""

    def vectors(self, rowids: list[int]) -> tuple[list[int], np.ndarray]:
        """The stored vectors of these rowids (those that have one by this embedder)."""
        sql = self.db.sql
        rows = self.db.fetch(
            "SELECT m.rowid, v.vector FROM vectors v JOIN memories m ON m.id = v.memory_id "
            f"WHERE v.embedder = {self._embedder} AND {sql.in_values('m.rowid', 'ids')}",
            {"ids": sql.values(rowids)},
        )
        if not rows:
            return [], np.empty((0, self.dimension), dtype=np.float32)
        matrix = np.frombuffer(b"".join(bytes(v) for _, v in rows), dtype="<f4")
        return [int(r) for r, _ in rows], matrix.reshape(len(rows), self.dimension)

    def search(
        self, vector: np.ndarray, limit: int, where: str = "true", params: dict | None = None
    ) -> list[tuple[int, float]]:
        """The `limit` nearest memories `m` that satisfy `where`, by cosine similarity."""
        hits = self._nearest(vector, limit, where, params or {}, exact=False)
        if len(hits) < limit and where != "true":
            hits = self._nearest(vector, limit, where, params or {}, exact=True)
        return hits

    def _nearest(
        self, vector: np.ndarray, limit: int, where: str, params: dict, exact: bool
    ) -> list[tuple[int, float]]:
        query = f"CAST(:query AS vector({self.dimension}))"
        statement = (
            f"SELECT m.rowid, 1 - ({self._column} <=> {query}) FROM vectors v "
            "JOIN memories m ON m.id = v.memory_id "
            f"WHERE v.embedder = {self._embedder} AND v.dimension = {self.dimension} "
            f"AND v.embedding IS NOT NULL AND {where} "
            f"ORDER BY {self._column} <=> {query} LIMIT :limit"
        )
        with self.db.engine.begin() as connection:
            if exact:
                connection.execute(text("SET LOCAL enable_indexscan = off"))
            else:
                ef = min(max(self.ef_search, int(limit) * 2), EF_SEARCH_MAX)
                connection.execute(text(f"SET LOCAL hnsw.ef_search = {ef}"))
            rows = connection.execute(
                text(statement), {**params, "query": vector_text(vector), "limit": limit}
            ).all()
        return [(int(r), float(s)) for r, s in rows]

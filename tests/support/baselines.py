"""The baselines recall is measured against: bare BM25 (SQLite FTS5), bare vectors (the
built-in MiniLM, exact FAISS inner product), and their naive reciprocal rank fusion,
over the same texts the hub holds. What thirty lines of retrieval get."""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict

import faiss
import numpy as np

WORD = re.compile(r"\w+")


class Bare:
    """Thirty lines of retrieval: BM25, vectors, and their naive fusion, over `texts`."""

    def __init__(
        self, keys: list[str], texts: list[str], embedder, vectors: np.ndarray | None = None
    ) -> None:
        """`vectors`: the texts' own, when they are made up (bench/search.py's synthetic
        store); else the embedder embeds the texts."""
        self.keys, self.embedder = keys, embedder
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(content, "
            "tokenize='porter unicode61 remove_diacritics 2')"
        )
        self.db.executemany("INSERT INTO t(rowid, content) VALUES (?, ?)", list(enumerate(texts)))
        if vectors is None:
            vectors = np.vstack(
                [embedder.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)]
            )
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors.astype(np.float32))

    def bm25(self, question: str, k: int = 100) -> list[str]:
        return [self.keys[i] for i in self._bm25(question, k)]

    def vectors(self, question: str, k: int = 100) -> list[str]:
        return [self.keys[i] for i in self._vectors(question, k)]

    def rrf(self, question: str, k: int = 100) -> list[str]:
        """Fused over the texts (each once), then named by their keys (a document's
        chunks all answer for it)."""
        scores: dict[int, float] = defaultdict(float)
        for ranking in (self._bm25(question, 100), self._vectors(question, 100)):
            for rank, row in enumerate(ranking):
                scores[row] += 1 / (60 + rank + 1)
        return [self.keys[i] for i in sorted(scores, key=scores.get, reverse=True)[:k]]

    def _bm25(self, question: str, k: int) -> list[int]:
        words = " OR ".join(f'"{w}"' for w in WORD.findall(question))
        rows = (
            self.db.execute(
                "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?", (words, k)
            ).fetchall()
            if words
            else []
        )
        return [r for (r,) in rows]

    def _vectors(self, question: str, k: int) -> list[int]:
        _scores, ids = self.index.search(self.embedder.embed([question]), k)
        return [int(i) for i in ids[0] if i >= 0]

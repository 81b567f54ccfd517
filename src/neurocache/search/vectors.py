"""The vector index: FAISS, owned by the hub, keyed by the memories' rowids.

It is a cache of the `vectors` table: written atomically (temp file + rename), and at
start compared with the store and rebuilt when they disagree. Exact inner product over
unit vectors (cosine); see docs/decisions for when it becomes approximate."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._lock = threading.RLock()

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def add(self, rowids: list[int], vectors: np.ndarray) -> None:
        if not rowids:
            return
        ids = np.asarray(rowids, dtype=np.int64)
        with self._lock:
            self._index.remove_ids(ids)  # re-adding replaces
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, rowids: list[int]) -> None:
        if rowids:
            with self._lock:
                self._index.remove_ids(np.asarray(rowids, dtype=np.int64))

    def search(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        with self._lock:
            if self.size == 0:
                return []
            scores, ids = self._index.search(
                np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32),
                min(limit, self.size))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path, fingerprint: dict) -> None:
        """Atomically: the index and what it was built from (to check it at start)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        with self._lock:
            faiss.write_index(self._index, str(temp))
        os.replace(temp, path)
        meta = path.with_suffix(".json")
        meta.with_suffix(".tmp").write_text(json.dumps(fingerprint))
        os.replace(meta.with_suffix(".tmp"), meta)

    @classmethod
    def load(cls, path: Path, dimension: int) -> tuple[VectorIndex, dict] | None:
        meta = path.with_suffix(".json")
        if not path.is_file() or not meta.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
            fingerprint = json.loads(meta.read_text())
        except (RuntimeError, ValueError, OSError):
            return None  # damaged: the caller rebuilds from the store
        if index.d != dimension:
            return None
        loaded = cls(dimension)
        loaded._index = index
        return loaded, fingerprint

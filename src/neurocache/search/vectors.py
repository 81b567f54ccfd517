"""The vector index: FAISS, owned by the hub, keyed by the memories' rowids.

It is a cache of the `vectors` table: written atomically (temp file + rename), and at
start compared with the store and topped up or rebuilt when they disagree. Cosine on
unit vectors (inner product). Exact (`IDMap2,Flat`) up to `IndexPolicy.exact_limit`
vectors, inverted lists (`IVF,Flat`) above: measured in docs/decisions/0003. HNSW was
passed over because FAISS cannot delete from it, and documents are deleted."""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import faiss
import numpy as np

EXACT, INVERTED = "exact", "ivf"
TRAINING_POINTS_PER_LIST = 64  # FAISS wants 39 or more; more buys little


@dataclass(frozen=True)
class IndexPolicy:
    """Which index a number of vectors gets, and how it is searched."""

    exact_limit: int = 50_000
    nprobe: int = 64
    ef_search: int = 400  # pgvector's HNSW: candidates kept per search

    def kind_for(self, count: int) -> str:
        return INVERTED if count > self.exact_limit else EXACT

    @staticmethod
    def lists_for(count: int) -> int:
        """4·√n lists (FAISS's rule of thumb), never fewer points per list than it needs."""
        return max(1, min(int(4 * math.sqrt(count)), count // 39))

    def fits(self, index: VectorIndex, count: int) -> bool:
        """Whether `index` still suits `count` vectors. Hysteresis (exact up to the limit,
        inverted down to half of it; lists within 2x of ideal) keeps it from flapping."""
        if index.kind == EXACT:
            return count <= self.exact_limit
        ideal = self.lists_for(count)
        return count >= self.exact_limit // 2 and ideal / 2 <= index.lists <= ideal * 2


class VectorIndex:
    def __init__(self, index: faiss.Index, nprobe: int = IndexPolicy.nprobe) -> None:
        self._index = index
        self._lock = threading.RLock()
        if self.kind == INVERTED:
            faiss.extract_index_ivf(index).nprobe = nprobe
        # The ids it holds: an add replaces only those already there. FAISS's remove_ids
        # scans the whole index, so removing before every add made ingesting a long
        # document cost more than linearly (each batch scanned all before it).
        self._present: set[int] = set(self.ids().tolist())

    @classmethod
    def exact(cls, dimension: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def inverted(cls, sample: np.ndarray, lists: int, nprobe: int) -> VectorIndex:
        """Inverted lists trained on `sample`; a hash map of ids makes deletion cheap."""
        index = cast(
            faiss.IndexIVF,  # what the factory makes of "IVF…,Flat" (an IndexIVFFlat)
            faiss.index_factory(sample.shape[1], f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT),
        )
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        # faiss's stubs omit DirectMap (the enum of direct map types)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        return cls(index, nprobe)

    @property
    def kind(self) -> str:
        return EXACT if isinstance(self._index, faiss.IndexIDMap2) else INVERTED

    @property
    def lists(self) -> int:
        return 0 if self.kind == EXACT else int(faiss.extract_index_ivf(self._index).nlist)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Every rowid in the index."""
        with self._lock:
            if isinstance(self._index, faiss.IndexIDMap2):  # exact
                return faiss.vector_to_array(self._index.id_map).copy()
            lists = faiss.extract_index_ivf(self._index).invlists
            assert lists is not None  # an IVF index made or read whole has its lists
            parts = [
                faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                for i in range(lists.nlist)
                if lists.list_size(i)
            ]
            return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def add(self, rowids: list[int], vectors: np.ndarray) -> None:
        if not rowids:
            return
        ids = np.asarray(rowids, dtype=np.int64)
        with self._lock:
            again = [r for r in rowids if r in self._present]
            if again:  # re-adding replaces
                _remove_ids(self._index, np.asarray(again, dtype=np.int64))
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
            self._present.update(rowids)

    def remove(self, rowids: list[int]) -> None:
        with self._lock:
            there = [r for r in rowids if r in self._present]
            if there:
                _remove_ids(self._index, np.asarray(there, dtype=np.int64))
                self._present.difference_update(there)

    def vectors(self, rowids: list[int]) -> tuple[list[int], np.ndarray]:
        """The vectors it holds of these rowids (those it has), read back from the index:
        far cheaper than from the store."""
        with self._lock:
            found = [r for r in rowids if r in self._present]
            if not found:
                return [], np.empty((0, self.dimension), dtype=np.float32)
            matrix = np.vstack([self._index.reconstruct(r) for r in found])
        return found, matrix

    def search(
        self, vector: np.ndarray, limit: int, among: list[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `limit` nearest, or the nearest of `among` only (a filter's rowids: FAISS
        skips the others while it scans, so a narrow filter costs one search)."""
        # One query gains nothing from OpenMP threads, and their spinning after each search
        # slowed the embedder's threads 2x (bench/search.py). This sets the calling
        # thread's OpenMP thread count only: a rebuild's training keeps every core.
        faiss.omp_set_num_threads(1)
        with self._lock:
            if self.size == 0 or among == []:
                return []
            scores, ids = self._index.search(
                np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32),
                min(limit, self.size),
                params=self._only(among),
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _only(self, among: list[int] | None) -> faiss.SearchParameters | None:
        if among is None:
            return None
        selector = faiss.IDSelectorBatch(np.asarray(among, dtype=np.int64))
        if self.kind == EXACT:
            params = faiss.SearchParameters()
            params.sel = selector
            return params
        # Every list: the few it may return can lie in lists the query is far from.
        ivf_params = faiss.SearchParametersIVF()
        ivf_params.sel = selector
        ivf_params.nprobe = self.lists
        return ivf_params

    def save(self, path: Path, fingerprint: dict) -> None:
        """Atomically: the index and what it was built from (to check it at start)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        with self._lock:
            faiss.write_index(self._index, str(temp))
        os.replace(temp, path)
        meta = path.with_suffix(".json")
        meta_temp = meta.with_name(meta.name + ".tmp")
        meta_temp.write_text(json.dumps(fingerprint))
        os.replace(meta_temp, meta)

    @classmethod
    def load(
        cls, path: Path, dimension: int, nprobe: int = IndexPolicy.nprobe
    ) -> tuple[VectorIndex, dict] | None:
        meta = path.with_suffix(".json")
        if not path.is_file() or not meta.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
            fingerprint = json.loads(meta.read_text())
            loaded = cls(index, nprobe)
        except (RuntimeError, ValueError, OSError):
            return None  # damaged or foreign: the caller rebuilds from the store
        if index.d != dimension:
            return None
        return loaded, fingerprint


def _remove_ids(index: faiss.Index, ids: np.ndarray) -> None:
    """FAISS's Python wrapper takes an array of ids (its stubs say a selector only) and
    picks the selector that suits the index: one an IVF index's hash map of ids finds
    without scanning the lists."""
    index.remove_ids(ids)  # type: ignore[arg-type]

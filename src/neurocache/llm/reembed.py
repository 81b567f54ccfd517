"""Keeping every memory's vector made by the active embedder.

Vectors live in the store with the name of the embedder that made them. When the
`embedder` setting changes, the hub re-embeds, in the background and in small batches,
every memory whose vector came from another embedder (or that has none yet), publishing
`job.progress` in room `jobs`. Each batch commits on its own: a hub stopped halfway
goes on where it stopped at its next start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import numpy as np
from sqlalchemy import Select, func, or_, select

from neurocache.events import Publish
from neurocache.store import Database
from neurocache.store.graph import content_hash
from neurocache.store.tables import UNEMBEDDED_KINDS, Memory, Vector
from neurocache.store.types import utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.llm")
BATCH = 64
# A document's whole text is not embedded (its chunks are): past 256 tokens a vector of
# it would say little, and it would crowd its own chunks out of results.


class Embedder(Protocol):
    dimension: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def stale_query(embedder_name: str) -> Select[str, str]:
    """Memories without a vector from this embedder."""
    return (
        select(Memory.id, Memory.content)
        .outerjoin(Vector, Vector.memory_id == Memory.id)
        .where(or_(Vector.memory_id.is_(None), Vector.embedder != embedder_name))
        .where(Memory.kind.not_in(UNEMBEDDED_KINDS))
        .order_by(Memory.id)
    )


def count_stale(db: Database, embedder_name: str) -> int:
    with db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(stale_query(embedder_name).subquery()))
            or 0
        )


def store_vectors(
    db: Database, embedder_name: str, ids: list[str], vectors: np.ndarray, texts: list[str]
) -> list[int]:
    """Write (or replace) the vectors of `texts`, each the content of its memory when it
    was read. A memory edited or deleted since is skipped: an embedding of its old text
    must not outlive the edit (the edit's own embedding, or the next start's, writes the
    right one). Returns the positions written."""
    hashes = [content_hash(text) for text in texts]
    with db.session() as session:
        current = dict(
            session.execute(select(Memory.id, Memory.content_hash).where(Memory.id.in_(ids))).all()
        )
        kept = [i for i, memory_id in enumerate(ids) if current.get(memory_id) == hashes[i]]
        if kept:
            now = utcnow()
            insert = db.insert(Vector)
            session.execute(
                insert.on_conflict_do_update(
                    index_elements=["memory_id"],
                    set_={
                        name: insert.excluded[name]
                        for name in ("embedder", "dimension", "vector", "created_at")
                    },
                ),
                [
                    {
                        "memory_id": ids[i],
                        "embedder": embedder_name,
                        "dimension": int(vectors[i].shape[0]),
                        "vector": np.asarray(vectors[i], dtype="<f4").tobytes(),
                        "created_at": now,
                    }
                    for i in kept
                ],
            )
            db.write_embeddings(
                session, {ids[i]: np.asarray(vectors[i], dtype="<f4").tobytes() for i in kept}
            )
    if len(kept) < len(ids):
        log.debug("%d vectors not stored: their memories changed meanwhile", len(ids) - len(kept))
    return kept


def load_vector(row: Vector) -> np.ndarray:
    return np.frombuffer(row.vector, dtype="<f4")


class Reembedder:
    """One background pass over the stale memories; cancellable between batches."""

    def __init__(
        self,
        db: Database,
        embedder_name: str,
        get_embedder: Callable[[], Embedder],
        publish: Publish,
        inputs: Callable[[list[str], list[str]], list[str]] = lambda _i, t: t,
        threads: Threads | None = None,
    ) -> None:
        self.threads = threads or Threads()
        # publish: reembed.progress, and vectors.stored {memory_ids} after each batch (the
        # search index follows it)
        self.inputs = inputs  # (ids, texts) → what to embed (a turn with its context)
        self.db = db
        self.embedder_name = embedder_name
        self.get_embedder = get_embedder
        self.publish = publish
        self.job_id = f"reembed:{embedder_name}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start if anything is stale; returns whether it started."""
        total = count_stale(self.db, self.embedder_name)
        if total == 0:
            return False
        self._thread = self.threads.start("reembed", self.run, total)
        return True

    def run(self, total: int) -> int:
        done = 0
        try:
            self._report("running", done, total)
            embedder = self.get_embedder()
            while not self._stop.is_set():
                with self.db.session() as session:
                    batch = session.execute(stale_query(self.embedder_name).limit(BATCH)).all()
                if not batch:
                    break
                ids = [memory_id for memory_id, _ in batch]
                texts = [content for _, content in batch]
                vectors = embedder.embed(self.inputs(ids, texts))
                kept = store_vectors(self.db, self.embedder_name, ids, vectors, texts)
                self.publish("vectors.stored", {"memory_ids": [ids[i] for i in kept]}, None)
                done += len(batch)
                self._report("running", done, max(total, done))
        except Exception as exc:  # reported, never a dead thread nobody hears of
            log.exception("re-embedding failed")
            self._report("failed", done, total, error=str(exc))
            return done
        self._report("cancelled" if self._stop.is_set() else "done", done, max(total, done))
        return done

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _report(self, status: str, done: int, total: int, error: str | None = None) -> None:
        payload = {
            "id": self.job_id,
            "kind": "reembed",
            "status": status,
            "done": done,
            "total": total,
            "progress": round(done / total, 4) if total else 1.0,
            "embedder": self.embedder_name,
        }
        if error:
            payload["error"] = error
        self.publish("job.progress", payload, "jobs")

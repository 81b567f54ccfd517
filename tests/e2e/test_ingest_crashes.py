"""Kill the hub (SIGKILL) at random moments during a large ingestion, restart, repeat:
afterwards every document acknowledged with 202 is indexed exactly once, no chunk is
duplicated or orphaned, and the FAISS index agrees with the store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import select, text

from neurocache.llm.embedder import BUILTIN_MODEL  # noqa: F401 - the built-in embedder
from neurocache.search.service import SearchService
from neurocache.store import Database
from neurocache.store.tables import Document, Edge, Memory, Vector

WORDS = [
    "river",
    "mountain",
    "city",
    "library",
    "harbour",
    "market",
    "garden",
    "bridge",
    "tower",
    "forest",
    "meadow",
    "island",
    "valley",
    "desert",
    "glacier",
    "canyon",
    "volcano",
    "lagoon",
    "prairie",
    "tundra",
]


def start_hub(data_dir):
    env = {
        **os.environ,
        "NEUROCACHE_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        "NEUROCACHE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "neurocache", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in process.stdout:
        if "Open the hub:" in line:
            url, token = line.split("Open the hub: ")[1].strip().split("/?token=")
            return process, url, {"Authorization": f"Bearer {token}"}
    raise AssertionError("the hub did not start")


def document_text(rng: random.Random) -> str:
    paragraphs = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120)))
        for _ in range(rng.randint(2, 6))
    ]
    return "\n\n".join(paragraphs)


@pytest.mark.slow
def test_kills_during_ingestion_lose_and_duplicate_nothing(tmp_path):
    rng = random.Random(42)
    acknowledged: list[str] = []
    for round_ in range(4):
        process, url, owner = start_hub(tmp_path)
        try:
            deadline = time.monotonic() + rng.uniform(0.5, 2.0)
            posted = 0
            while time.monotonic() < deadline and posted < 12:
                posted += 1
                response = requests.post(
                    f"{url}/api/v1/documents",
                    headers=owner,
                    timeout=30,
                    json={"title": f"doc {len(acknowledged)}", "text": document_text(rng)},
                )
                if response.status_code == 202:
                    acknowledged.append(response.json()["document"]["id"])
        finally:
            process.send_signal(signal.SIGKILL)  # mid-ingestion, whatever it was doing
            process.wait(10)
        assert len(acknowledged) > round_

    process, url, owner = start_hub(tmp_path)  # the last start finishes what is left
    began = time.monotonic()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            statuses = Counter(
                requests.get(f"{url}/api/v1/documents/{d}", headers=owner, timeout=30).json()[
                    "status"
                ]
                for d in acknowledged
            )
            if statuses.get("indexed", 0) == len(acknowledged):
                break
            time.sleep(0.5)
        assert statuses == {"indexed": len(acknowledged)}, statuses
        print(
            f"{len(acknowledged)} documents; the last start finished them in "
            f"{time.monotonic() - began:.1f} s"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    db = Database(f"sqlite:///{tmp_path / 'neurocache.db'}")
    with db.session() as session:
        documents = {d.id: d for d in session.scalars(select(Document))}
        chunks = list(session.scalars(select(Memory).where(Memory.kind == "chunk")))
        edges = list(session.scalars(select(Edge).where(Edge.relation == "part_of")))
        vectors = list(session.scalars(select(Vector)))
        rowids = set(session.scalars(text("SELECT rowid FROM memories WHERE kind = 'chunk'")))
    assert set(documents) == set(acknowledged)
    per_document = Counter(c.meta["document_id"] for c in chunks)
    for document_id, document in documents.items():
        assert per_document[document_id] == document.chunk_count > 0  # exactly once
        indexes = sorted(c.meta["index"] for c in chunks if c.meta["document_id"] == document_id)
        assert indexes == list(range(document.chunk_count))  # no duplicate, no gap
    assert len(edges) == len(chunks) and {e.target_id for e in edges} <= set(documents)
    assert {v.memory_id for v in vectors} == {c.id for c in chunks}  # no orphan, none missing

    search = SearchService(db, tmp_path / "indexes", "builtin", lambda: _Dimension())
    index = search.index()
    assert index.size == len(chunks)
    assert {rowid for rowid, _ in index.search(_probe(), len(chunks))} == rowids
    db.close()


class _Dimension:
    dimension = 384


def _probe():
    import numpy as np

    vector = np.ones(384, dtype=np.float32)
    return vector / np.linalg.norm(vector)

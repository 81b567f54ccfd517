"""Search latency at 10k, 100k and 1M chunks, next to a bare FAISS call on the same index.

For each size, a store is filled with synthetic chunks (text drawn from a vocabulary with
Zipf frequencies; clustered unit vectors of the built-in embedder's dimension, lying near
a low-dimensional subspace as real embeddings do) and a real hub is started on it, with
its HTTP server on loopback. Then, with distinct queries, p50/p99 of:

- `embed`: the built-in embedder on the query alone (part of every vector search);
- `faiss`: a bare `index.search` on the hub's own FAISS index (the same k it asks for);
- `fulltext`, `vector`, `hybrid`: `SearchService.search` in-process, and
  `POST /api/v1/search` through HTTP;
- ratio: the hub's vector search over (embed + bare FAISS) measured in the same run.

It also reports the index kind the hub chose, its build time, and the recall@10 of the
index against exact search on the same vectors (1.0 for an exact index).

    python bench/search.py [--sizes 10000,100000,1000000] [--queries 200]

Prints a table and writes bench/results/search.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
import requests
from sqlalchemy import insert

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _table import print_table  # noqa: E402
from neurocache.app import create_app, hub_of  # noqa: E402
from neurocache.search.service import FIRST_ASK  # noqa: E402
from neurocache.settings import Settings  # noqa: E402
from neurocache.store.models import Memory, Vector  # noqa: E402
from neurocache.web.server import HubServer  # noqa: E402

DIMENSION = 384  # the built-in embedder's
VOCABULARY = 20_000
WORDS_PER_CHUNK = 60
INSERT_BATCH = 5_000
K = 10


def pseudo_words(count: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(4, 10))) for _ in range(count)]


class Corpus:
    """Synthetic chunks: Zipf-distributed words; vectors in clusters near a 48-d subspace."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.words = np.array(pseudo_words(VOCABULARY, self.rng))
        ranks = np.arange(1, VOCABULARY + 1)
        self.word_p = (1 / ranks) / (1 / ranks).sum()
        self.basis = np.linalg.qr(self.rng.standard_normal((DIMENSION, 48)))[0].T.astype("f4")
        self.centres = self.rng.standard_normal((1000, 48)).astype("f4")

    def texts(self, count: int) -> list[str]:
        picks = self.rng.choice(VOCABULARY, size=(count, WORDS_PER_CHUNK), p=self.word_p)
        return [" ".join(self.words[row]) for row in picks]

    def vectors(self, count: int) -> np.ndarray:
        near = self.centres[self.rng.integers(0, len(self.centres), count)]
        low = near + 0.5 * self.rng.standard_normal((count, 48)).astype("f4")
        vectors = low @ self.basis + 0.05 * self.rng.standard_normal((count, DIMENSION))
        vectors = vectors.astype("f4")
        faiss.normalize_L2(vectors)
        return vectors

    def queries(self, count: int) -> list[str]:
        """Two to four words, mostly uncommon ones (what people search for)."""
        return [" ".join(self.rng.choice(self.words[50:], size=self.rng.integers(2, 5)))
                for _ in range(count)]


def fill_store(hub, corpus: Corpus, size: int) -> float:
    started = time.perf_counter()
    now = datetime.now(UTC)
    for offset in range(0, size, INSERT_BATCH):
        count = min(INSERT_BATCH, size - offset)
        texts, vectors = corpus.texts(count), corpus.vectors(count)
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with hub.db.session() as session:
            session.execute(insert(Memory.__table__), [
                {"id": i, "kind": "chunk", "content": t, "content_hash": uuid.uuid4().hex,
                 "metadata": {}, "owner": "owner", "created_at": now, "updated_at": now}
                for i, t in zip(ids, texts, strict=True)])
            session.execute(insert(Vector.__table__), [
                {"memory_id": i, "embedder": "builtin", "dimension": DIMENSION,
                 "vector": v.astype("<f4").tobytes(), "created_at": now}
                for i, v in zip(ids, vectors, strict=True)])
        print(f"\r  stored {offset + count:,}/{size:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - started


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    return round(statistics.median(ms), 2), round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)


def timed(call, items) -> list[float]:
    spent = []
    for item in items:
        started = time.perf_counter()
        call(item)
        spent.append(time.perf_counter() - started)
    return spent


def recall_at_k(hub, probes: np.ndarray) -> float:
    """The hub's index against exact search over the same vectors."""
    index = hub.search.index()
    rowids, vectors = hub.search._stored_vectors()
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    _, truth = exact.search(probes, K)
    found = [{r for r, _ in index.search(p, K)} for p in probes]
    return round(float(np.mean([len(f & set(rowids[t].tolist())) / K
                                for f, t in zip(found, truth, strict=True)])), 3)


def measure_size(size: int, queries: int, corpus: Corpus) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="nc-bench-search-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        hub = hub_of(app)
        fill_s = fill_store(hub, corpus, size)
        started = time.perf_counter()
        index = hub.search.index()
        build_s = time.perf_counter() - started
        server = HubServer(app, "127.0.0.1", 0).start()
        try:
            return measure_hub(hub, server.url, index, size, queries, corpus,
                               {"fill_s": round(fill_s, 1), "build_s": round(build_s, 1)})
        finally:
            server.stop()


def measure_hub(hub, url: str, index, size: int, queries: int, corpus: Corpus,
                timings: dict) -> list[dict]:
    texts = corpus.queries(queries * 5)
    embedder = hub.embedder
    embedder.embed(texts[:5])  # warm
    vectors = embedder.embed(texts[:queries])
    candidates = max(K * 3, 30) * FIRST_ASK  # what the service asks FAISS for first
    raw = index._index
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {hub.owner_token.value}"

    def over_http(mode):
        def call(query):
            response = http.post(f"{url}/api/v1/search",
                                 json={"query": query, "mode": mode, "k": K}, timeout=60)
            response.raise_for_status()
        return call

    rows = [{"size": size, "what": "embed (query)", "in-process": percentiles(
                timed(lambda q: embedder.embed([q]), texts[:queries]))},
            {"size": size, "what": f"faiss ({index.kind}, k={candidates})",
             "in-process": percentiles(timed(lambda v: raw.search(v.reshape(1, -1), candidates),
                                             vectors))}]
    for number, mode in enumerate(("fulltext", "vector", "hybrid"), start=1):
        batch = texts[number * queries:(number + 1) * queries]
        local = percentiles(timed(lambda q, m=mode: hub.search.search(q, k=K, mode=m), batch))
        remote = percentiles(timed(over_http(mode), batch[::-1]))
        rows.append({"size": size, "what": mode, "in-process": local, "http": remote})
    rows[0].update(index=index.kind, lists=index.lists, recall_at_10=recall_at_k(
        hub, corpus.vectors(50)), **timings)
    bare = rows[0]["in-process"][0] + rows[1]["in-process"][0]
    rows[3]["vs embed+faiss"] = round(rows[3]["in-process"][0] / bare, 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    corpus = Corpus()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"size {size:,}", file=sys.stderr)
        results.extend(measure_size(size, args.queries, corpus))
        table = [{"size": r["size"], "what": r["what"],
                  "p50/p99 ms in-process": "/".join(map(str, r["in-process"])),
                  "p50/p99 ms http": "/".join(map(str, r.get("http", ("", "")))),
                  "vs embed+faiss": r.get("vs embed+faiss", "")} for r in results]
        print_table(table, "Search latency (ms)")
        print(json.dumps([r for r in results if "index" in r], indent=1))
    out = HERE / "results" / "search.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

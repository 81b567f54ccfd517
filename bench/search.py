"""Search latency at 10k, 100k and 1M chunks, next to a bare FAISS call on the same index.

For each size, a store is filled with synthetic chunks (text drawn from a vocabulary with
Zipf frequencies; clustered unit vectors of the built-in embedder's dimension, lying near
a low-dimensional subspace as real embeddings do) and a real hub is started on it, with
its HTTP server on loopback. Then, with distinct queries, p50/p99 of:

- `embed`: the built-in embedder on the query alone (part of every vector search);
- `faiss`: a bare `index.search` on the hub's own FAISS index (the same k it asks for);
- `fulltext`, `vector`, `hybrid`: `SearchService.search` in-process, and
  `POST /api/v1/search` through HTTP;
- ratio: the hub's vector search over (embed + bare FAISS) measured in the same run;
- naive RRF: up to 200k chunks, the bare pipeline of tests/support/baselines.py (SQLite
  FTS5 BM25, exact FAISS, reciprocal rank fusion) on the same texts and vectors, in this
  process; "hybrid http / naive" is the hub's hybrid over HTTP over it.

It also reports the index kind the hub chose, its build time, and the recall@10 of the
index against exact search on the same vectors (1.0 for an exact index).

    python bench/search.py [--sizes 1000,10000,100000,1000000] [--queries 200]

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
from sqlalchemy import insert

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _http import LeanClient  # noqa: E402
from _table import print_table  # noqa: E402
from neurocache.app import create_app, hub_of  # noqa: E402
from neurocache.search.service import FIRST_ASK  # noqa: E402
from neurocache.settings import Settings  # noqa: E402
from neurocache.store.tables import Memory, Vector  # noqa: E402
from neurocache.web.server import HubServer  # noqa: E402
from tests.support.baselines import Bare  # noqa: E402

DIMENSION = 384  # the built-in embedder's
VOCABULARY = 20_000
WORDS_PER_CHUNK = 60
INSERT_BATCH = 5_000
K = 10
BARE_UP_TO = 200_000  # the naive pipeline is built beside the hub up to this size


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
        return [
            " ".join(self.rng.choice(self.words[50:], size=self.rng.integers(2, 5)))
            for _ in range(count)
        ]


def fill_store(hub, corpus: Corpus, size: int, kept: list | None = None) -> float:
    """Seconds to store `size` synthetic chunks; `kept` gets their (texts, vectors)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    for offset in range(0, size, INSERT_BATCH):
        count = min(INSERT_BATCH, size - offset)
        texts, vectors = corpus.texts(count), corpus.vectors(count)
        if kept is not None:
            kept.append((texts, vectors))
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with hub.db.session() as session:
            session.execute(
                insert(Memory.__table__),
                [
                    {
                        "id": i,
                        "kind": "chunk",
                        "content": t,
                        "content_hash": uuid.uuid4().hex,
                        "metadata": {},
                        "owner": "owner",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, t in zip(ids, texts, strict=True)
                ],
            )
            session.execute(
                insert(Vector.__table__),
                [
                    {
                        "memory_id": i,
                        "embedder": "builtin",
                        "dimension": DIMENSION,
                        "vector": v.astype("<f4").tobytes(),
                        "created_at": now,
                    }
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )
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


def interleaved(ways: dict[str, tuple]) -> dict[str, list[float]]:
    """Each way's (call, items) timed a call at a time in turn, so that the machine's noise
    falls on all of them alike (one after another, a busy minute lands on one way)."""
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(min(len(items) for _call, items in ways.values())):
        for name, (call, items) in ways.items():
            spent[name] += timed(call, [items[i]])
    return spent


def recall_at_k(hub, probes: np.ndarray) -> float:
    """The hub's index against exact search over the same vectors."""
    index = hub.search.index()
    rowids, vectors = hub.search._stored_vectors()
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(vectors)
    _, truth = exact.search(probes, K)
    found = [{r for r, _ in index.search(p, K)} for p in probes]
    return round(
        float(
            np.mean(
                [len(f & set(rowids[t].tolist())) / K for f, t in zip(found, truth, strict=True)]
            )
        ),
        3,
    )


def measure_size(size: int, queries: int, corpus: Corpus) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="nc-bench-search-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), rate_limit_owner=False))
        hub = hub_of(app)
        kept: list | None = [] if size <= BARE_UP_TO else None
        fill_s = fill_store(hub, corpus, size, kept)
        bare = (
            None
            if kept is None
            else Bare(
                [""] * size,
                [t for texts, _ in kept for t in texts],
                hub.embedder,
                np.vstack([v for _, v in kept]),
            )
        )
        started = time.perf_counter()
        index = hub.search.index()
        build_s = time.perf_counter() - started
        server = HubServer(app, "127.0.0.1", 0).start()
        try:
            return measure_hub(
                hub,
                server.url,
                index,
                size,
                queries,
                corpus,
                {"fill_s": round(fill_s, 1), "build_s": round(build_s, 1)},
                bare,
            )
        finally:
            server.stop()


def measure_hub(
    hub, url: str, index, size: int, queries: int, corpus: Corpus, timings: dict, bare: Bare | None
) -> list[dict]:
    texts = corpus.queries(queries * 5)
    embedder = hub.embedder
    embedder.embed(texts[:5])  # warm
    vectors = embedder.embed(texts[:queries])
    candidates = max(K * 3, 30) * FIRST_ASK  # what the service asks FAISS for first
    raw = index._index
    http = LeanClient(url, hub.owner_token.value)

    def over_http(mode):
        return lambda query: http.post("/api/v1/search", {"query": query, "mode": mode, "k": K})

    batches = [texts[n * queries : (n + 1) * queries] for n in range(5)]
    ways = {
        "embed": (lambda q: embedder.embed([q]), batches[0]),
        "faiss": (lambda v: raw.search(v.reshape(1, -1), candidates), list(vectors)),
    }
    for number, mode in enumerate(("fulltext", "vector", "hybrid"), start=1):
        ways[mode] = (lambda q, m=mode: hub.search.search(q, k=K, mode=m), batches[number])
        ways[f"{mode} http"] = (over_http(mode), batches[number][::-1])
    if bare is not None:  # the naive pipeline: bare BM25 + exact FAISS + RRF, same data
        ways["naive"] = (lambda q: bare.rrf(q, K), batches[4])
    spent = {name: percentiles(times) for name, times in interleaved(ways).items()}
    rows = [
        {"size": size, "what": "embed (query)", "in-process": spent["embed"]},
        {
            "size": size,
            "what": f"faiss ({index.kind}, k={candidates})",
            "in-process": spent["faiss"],
        },
    ]
    rows += [
        {"size": size, "what": mode, "in-process": spent[mode], "http": spent[f"{mode} http"]}
        for mode in ("fulltext", "vector", "hybrid")
    ]
    rows[0].update(
        index=index.kind,
        lists=index.lists,
        recall_at_10=recall_at_k(hub, corpus.vectors(50)),
        **timings,
    )
    floor = rows[0]["in-process"][0] + rows[1]["in-process"][0]
    rows[3]["vs embed+faiss"] = round(rows[3]["in-process"][0] / floor, 2)
    if bare is not None:
        rows.append(
            {
                "size": size,
                "what": "naive RRF (bare BM25 + flat FAISS)",
                "in-process": spent["naive"],
            }
        )
        rows[4]["hybrid http / naive"] = round(spent["hybrid http"][0] / spent["naive"][0], 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    corpus = Corpus()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"size {size:,}", file=sys.stderr)
        results.extend(measure_size(size, args.queries, corpus))
        table = [
            {
                "size": r["size"],
                "what": r["what"],
                "p50/p99 ms in-process": "/".join(map(str, r["in-process"])),
                "p50/p99 ms http": "/".join(map(str, r.get("http", ("", "")))),
                "vs embed+faiss": r.get("vs embed+faiss", ""),
                "hybrid http / naive": r.get("hybrid http / naive", ""),
            }
            for r in results
        ]
        print_table(table, "Search latency (ms)")
        print(json.dumps([r for r in results if "index" in r], indent=1))
    out = HERE / "results" / "search.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

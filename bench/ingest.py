"""Ingestion throughput, next to the raw embedder on the same chunks, in one run; and how
the API answers while a large ingestion runs.

A corpus of generated files (Markdown, text, Python, HTML, JSON and CSV; distinct prose, so
nothing is deduplicated) is uploaded to a real hub on loopback through
`POST /api/v1/documents` (multipart, several files a request), and the hub indexes it in
the background. Measured:

- documents/s and chunks/s from the first upload to the last job done;
- the raw built-in embedder (`embed` in batches of 32, as the pipeline asks) on exactly the
  chunks the hub made, right after, in the same process: the ratio is ingestion / raw;
- p50/p99 of `POST /api/v1/search` (hybrid) and `GET /api/v1/health` while the ingestion
  runs, and the same with the hub idle afterwards.

    python bench/ingest.py [--files 2000] [--per-request 20]
    python bench/ingest.py --large 10 30 [--rss-size 50]   # one large text: see ingest_large

Prints tables and writes bench/results/ingest.json (ingest_large.json with --large).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests
from sqlalchemy import select

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _table import print_table  # noqa: E402
from neurocache.app import create_app, hub_of  # noqa: E402
from neurocache.knowledge.service import EMBED_BATCH  # noqa: E402
from neurocache.settings import Settings  # noqa: E402
from neurocache.store.tables import Memory  # noqa: E402
from neurocache.web.server import HubServer  # noqa: E402

TOPICS = [
    "river",
    "mountain",
    "library",
    "engine",
    "garden",
    "orbit",
    "harbour",
    "forest",
    "market",
    "glacier",
    "violin",
    "compiler",
    "bakery",
    "lighthouse",
    "volcano",
]
VERBS = ["describes", "measures", "explains", "follows", "compares", "records", "questions"]


def sentence(rng: np.random.Generator, number: int) -> str:
    a, b = rng.choice(TOPICS, 2, replace=False)
    return (
        f"The {a} {rng.choice(VERBS)} the {b} number {number} near site "
        f"{rng.integers(1, 10**6)} in year {rng.integers(1700, 2030)}."
    )


def prose(rng: np.random.Generator, number: int) -> str:
    sentences = rng.integers(8, 60)
    return " ".join(sentence(rng, number * 100 + i) for i in range(sentences))


def write_corpus(folder: Path, files: int, seed: int = 0) -> list[Path]:
    """Files of six kinds, a few hundred bytes to a few KB each, every text distinct."""
    rng = np.random.default_rng(seed)
    writers = {
        "md": lambda n, t: f"# Note {n}\n\n## Part one\n\n{t}\n\n## Part two\n\n{t[::-1]}\n",
        "txt": lambda n, t: t,
        "py": lambda n, t: f'def note_{n}():\n    """{t}"""\n    return {n}\n',
        "html": lambda n, t: (
            f"<html><body><article><h1>Page {n}</h1><p>{t}</p></article></body></html>"
        ),
        "json": lambda n, t: json.dumps({"id": n, "text": t}),
        "csv": lambda n, t: (
            "id,text\n" + "\n".join(f'{n}-{i},"{part}"' for i, part in enumerate(t.split(". ")))
        ),
    }
    kinds = list(writers)
    paths = []
    for number in range(files):
        kind = kinds[number % len(kinds)]
        path = folder / f"file-{number:05d}.{kind}"
        path.write_text(writers[kind](number, prose(rng, number)))
        paths.append(path)
    return paths


class Prober(threading.Thread):
    """Calls the API every `interval` seconds and keeps each call's latency."""

    def __init__(self, url: str, token: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.search_s: list[float] = []
        self.health_s: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stop.wait(self.interval):
            number += 1
            query = f"{TOPICS[number % len(TOPICS)]} {VERBS[number % len(VERBS)]} site"
            self._time(
                self.search_s,
                lambda q=query: self.http.post(
                    f"{self.url}/api/v1/search", json={"query": q, "k": 10}, timeout=60
                ),
            )
            self._time(
                self.health_s, lambda: self.http.get(f"{self.url}/api/v1/health", timeout=60)
            )

    @staticmethod
    def _time(into: list[float], call) -> None:
        started = time.perf_counter()
        call().raise_for_status()
        into.append(time.perf_counter() - started)


def percentiles(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    ms = sorted(s * 1000 for s in seconds)
    return f"{statistics.median(ms):.1f}/{ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.1f}"


def upload(url: str, token: str, paths: list[Path], per_request: int) -> None:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    for start in range(0, len(paths), per_request):
        batch = paths[start : start + per_request]
        response = http.post(
            f"{url}/api/v1/documents",
            timeout=300,
            files=[("file", (p.name, p.read_bytes())) for p in batch],
        )
        response.raise_for_status()


def ingest(hub, url: str, paths: list[Path], per_request: int, probe_every: float) -> dict:
    token = hub.owner_token.value
    prober = Prober(url, token, probe_every)
    prober.start()
    started = time.perf_counter()
    upload(url, token, paths, per_request)
    uploaded = time.perf_counter() - started
    if not hub.jobs.wait_idle(timeout=24 * 3600):
        raise RuntimeError("ingestion did not finish")
    seconds = time.perf_counter() - started
    prober.stop.set()
    prober.join()
    return {"seconds": seconds, "upload_s": uploaded, "busy": prober}


def raw_embedder(hub) -> tuple[int, float]:
    with hub.db.session() as session:
        texts = list(session.scalars(select(Memory.content).where(Memory.kind == "chunk")))
    embedder = hub.embedder
    started = time.perf_counter()
    for start in range(0, len(texts), EMBED_BATCH):
        embedder.embed(texts[start : start + EMBED_BATCH])
    return len(texts), time.perf_counter() - started


def idle_latencies(url: str, token: str, seconds: float = 10.0) -> Prober:
    prober = Prober(url, token, 0.1)
    prober.start()
    time.sleep(seconds)
    prober.stop.set()
    prober.join()
    return prober


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--per-request", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=Settings().ingest_workers, help="the ingest_workers setting"
    )
    parser.add_argument(
        "--probe-every",
        type=float,
        default=1.0,
        help="seconds between two API calls (search, health) meanwhile",
    )
    parser.add_argument(
        "--large",
        type=float,
        nargs="+",
        metavar="MB",
        help="instead: one large text of each size through a hub process "
        "(RSS, time per MB; bench/ingest_large.py)",
    )
    args, rest = parser.parse_known_args()
    if args.large:
        import ingest_large

        sys.argv = [sys.argv[0], "--sizes", *map(str, args.large), *rest]
        ingest_large.main()
        return
    with tempfile.TemporaryDirectory(prefix="nc-bench-ingest-") as temp:
        corpus = Path(temp) / "corpus"
        corpus.mkdir()
        paths = write_corpus(corpus, args.files)
        size = sum(p.stat().st_size for p in paths)
        app = create_app(Settings(data_dir=Path(temp) / "hub", ingest_workers=args.workers))
        hub = hub_of(app)
        hub.embedder.embed(["warm up"])
        server = HubServer(app, "127.0.0.1", 0).start()
        try:
            run = ingest(hub, server.url, paths, args.per_request, args.probe_every)
            chunks, raw_s = raw_embedder(hub)
            idle = idle_latencies(server.url, hub.owner_token.value)
        finally:
            server.stop()
    report(args, size, chunks, run, raw_s, idle)


def report(
    args: argparse.Namespace, size: int, chunks: int, run: dict, raw_s: float, idle: Prober
) -> None:
    files = args.files
    seconds, busy = run["seconds"], run["busy"]
    ingest_rate, raw_rate = chunks / seconds, chunks / raw_s
    throughput = [
        {
            "what": "hub ingestion (upload → indexed)",
            "files": files,
            "chunks": chunks,
            "seconds": round(seconds, 1),
            "docs/s": round(files / seconds, 1),
            "chunks/s": round(ingest_rate, 1),
        },
        {
            "what": "raw embedder, same chunks",
            "files": "",
            "chunks": chunks,
            "seconds": round(raw_s, 1),
            "docs/s": "",
            "chunks/s": round(raw_rate, 1),
        },
    ]
    print_table(
        throughput,
        f"Ingestion of {files} files ({size / 1e6:.1f} MB), "
        f"{args.workers} workers; ratio hub/raw = "
        f"{ingest_rate / raw_rate:.2f}",
    )
    latency = [
        {
            "while": "ingesting",
            "search p50/p99 ms": percentiles(busy.search_s),
            "health p50/p99 ms": percentiles(busy.health_s),
            "calls": len(busy.search_s),
        },
        {
            "while": "idle",
            "search p50/p99 ms": percentiles(idle.search_s),
            "health p50/p99 ms": percentiles(idle.health_s),
            "calls": len(idle.search_s),
        },
    ]
    print_table(latency, "API latency (hybrid search, health) during and after ingestion")
    out = HERE / "results" / "ingest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "files": files,
                "workers": args.workers,
                "probe_every_s": args.probe_every,
                "bytes": size,
                "chunks": chunks,
                "seconds": seconds,
                "upload_s": run["upload_s"],
                "raw_embed_s": raw_s,
                "ratio": ingest_rate / raw_rate,
                "latency": latency,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()

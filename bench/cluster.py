"""Team mode, measured: the mixed workload against one SQLite hub (`neurocache serve`) and
against `neurocache cluster up` with 1, 2 (and more) hub processes, all in one run; the
fan-out of channel messages to Socket.IO clients spread over the processes; and vector
search on pgvector (HNSW, in PostgreSQL) next to FAISS (the library the single hub uses)
at 100k vectors.

Mixed workload: W client threads for D seconds, each request drawn at random: 60% search
(`POST /api/v1/search`), 20% document writes (`POST /api/v1/documents`, a short note:
embedding happens in the background), 20% channel messages. Meanwhile C Socket.IO clients
(two client processes) sit in the channel's room, connected round robin to the hub
processes directly, and a probe message every 0.25 s measures fan-out latency across
processes. Rate limits are lifted for the run (NEUROCACHE_RATE_LIMIT_*=0).

The light workload is the same without what embedding costs (CPU that every process on
the machine shares): 60% full-text search (`"mode": "fulltext"`, no query to embed), 20%
reads of a channel's messages, 20% channel messages. It measures how the hubs' own work —
HTTP, auth, the store's round trips, fan-out — spreads over processes.

Each workload's row also says where the machine's CPU went meanwhile (% of all cores):
the hub processes, PostgreSQL, Redis and HAProxy, this client, the rest. A workload that
leaves no CPU idle cannot go faster with more hub processes on the same machine.

    python bench/cluster.py [--hubs 1 2] [--seconds 20] [--workers 8] [--clients 200]
                            [--vectors 100000] [--skip-mixed] [--skip-light] [--skip-vectors]

Prints tables and writes bench/results/cluster.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

from _table import print_table
from realtime import crowd_process
from socketio_clients import percentile, start_server

HERE = Path(__file__).resolve().parent
CPU_GROUPS = {
    "postgres": ("postgres",),  # first: its backends name their database, "neurocache"
    "hubs": ("neurocache",),
    "redis+haproxy": ("redis", "haproxy"),
}
NO_LIMITS = {
    "NEUROCACHE_RATE_LIMIT_PER_MINUTE": "0",
    "NEUROCACHE_RATE_LIMIT_GENERATE_PER_MINUTE": "0",
    "NEUROCACHE_RATE_LIMIT_GLOBAL_PER_MINUTE": "0",
}
WORDS = ["river", "mountain", "violin", "comet", "bread", "glacier", "chess", "owl", "harbour"]


# ---- the targets
class Target:
    name: str
    url: str  # where the workload goes (the balancer, for a cluster)
    socket_urls: list[str]  # where the Socket.IO clients connect
    token: str

    def stop(self) -> None: ...


class SingleHub(Target):
    def __init__(self, folder: str) -> None:
        self.process, self.url, self.token = start_server("threading", folder)
        self.name, self.socket_urls = "single hub (SQLite, FAISS)", [self.url]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


class Cluster(Target):
    def __init__(self, folder: str, hubs: int) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "neurocache",
                "cluster",
                "up",
                "--hubs",
                str(hubs),
                "--data-dir",
                folder,
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        view = json.loads(self.process.stdout.readline())
        self.name = f"cluster, {hubs} hub{'s' if hubs > 1 else ''} (PostgreSQL, pgvector)"
        self.url, self.socket_urls, self.token = view["url"], view["hubs"], view["key"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)


# ---- where the CPU goes
def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far, per group of this machine's processes (Linux), with the
    exited children each live process has reaped (PostgreSQL's ended backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue  # /proc/self is this process again
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue  # not a process, or gone meanwhile
        times = stat.rsplit(")", 1)[1].split()[11:15]  # utime stime cutime cstime
        group = "bench client" if entry.name == str(os.getpid()) else _group(command)
        used[group] = used.get(group, 0.0) + sum(map(int, times)) / tick
    return used


def _group(command: str) -> str:
    for group, words in CPU_GROUPS.items():
        if any(word in command for word in words):
            return group
    return "other"


def cpu_shares(before: dict[str, float], after: dict[str, float], elapsed: float) -> dict:
    """Each group's share of the machine's CPU (all cores) over `elapsed` seconds, in %."""
    capacity = elapsed * (os.cpu_count() or 1)
    return {
        f"cpu_{group}_pct": round(100 * (after.get(group, 0) - before.get(group, 0)) / capacity)
        for group in [*CPU_GROUPS, "bench client", "other"]
    }


# ---- the mixed workload
def seed(target: Target) -> str:
    """A few documents to search and a channel; the channel's id."""
    headers = {"Authorization": f"Bearer {target.token}"}
    for n in range(20):
        words = " ".join(random.Random(n).choices(WORDS, k=12))
        requests.post(
            f"{target.url}/api/v1/documents",
            headers=headers,
            timeout=60,
            json={"title": f"seed {n}", "text": f"Seed note {n}: {words}."},
        )
    channel = requests.post(
        f"{target.url}/api/v1/channels",
        headers=headers,
        timeout=60,
        json={"name": f"bench-{time.time_ns()}"},
    ).json()
    time.sleep(5)  # the seed documents embedded
    return channel["id"]


def one_request(
    session: requests.Session, target: Target, channel_id: str, rng: random.Random, light: bool
) -> tuple[str, int]:
    draw, words = rng.random(), " ".join(rng.choices(WORDS, k=3))
    messages = f"/api/v1/channels/{channel_id}/messages"
    if draw < 0.6:
        body = {"query": words, "mode": "fulltext"} if light else {"query": words}
        kind, path = "search", "/api/v1/search"
    elif draw < 0.8 and light:
        url = f"{target.url}{messages}?limit=20"
        return "read", session.get(url, timeout=60).status_code
    elif draw < 0.8:
        kind, path, body = "write", "/api/v1/documents", {"title": words, "text": words * 4}
    else:
        kind, path, body = (
            "message",
            messages,
            {"content": json.dumps({"t": time.time(), "w": words})},
        )
    return kind, session.post(target.url + path, json=body, timeout=60).status_code


def workload(
    target: Target, channel_id: str, workers: int, seconds: float, light: bool = False
) -> dict[str, Any]:
    kinds = ["search", "read" if light else "write", "message"]
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors, lock = [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(number: int) -> None:
        rng = random.Random(number)
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {target.token}"
            while time.monotonic() < deadline:
                began = time.perf_counter()
                kind, status = one_request(session, target, channel_id, rng, light)
                took = 1000 * (time.perf_counter() - began)
                with lock:
                    latencies[kind].append(took)
                    errors[0] += status >= 400

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    started, cpu_before = time.monotonic(), cpu_seconds()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    every = [x for values in latencies.values() for x in values]
    row: dict[str, Any] = {"requests_s": round(len(every) / elapsed, 1), "errors": errors[0]}
    for kind, values in latencies.items():
        row[f"{kind}_p50_ms"] = round(statistics.median(values), 1) if values else None
        row[f"{kind}_p99_ms"] = round(percentile(values, 0.99), 1) if values else None
    return row | cpu_shares(cpu_before, cpu_seconds(), elapsed)


def fan_out(target: Target, channel_id: str, clients: int, probes: int) -> dict[str, Any]:
    """C clients over two processes, each connected to the hub processes in turn."""
    context = mp.get_context("fork")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    crowd = []
    for n in range(2):
        url = target.socket_urls[n % len(target.socket_urls)]
        crowd.append(
            context.Process(
                target=crowd_process,
                args=(
                    url,
                    target.token,
                    f"channel:{channel_id}",
                    clients // 2,
                    ready,
                    results,
                    stop,
                ),
            )
        )
    for process in crowd:
        process.start()
    connected = sum(ready.get(timeout=300) for _ in crowd)
    headers = {"Authorization": f"Bearer {target.token}"}
    for _ in range(probes):
        requests.post(
            f"{target.url}/api/v1/channels/{channel_id}/messages",
            headers=headers,
            json={"content": json.dumps({"t": time.time(), "probe": 1})},
            timeout=60,
        )
        time.sleep(0.25)
    time.sleep(2)
    stop.set()
    received = []
    for _ in crowd:
        channel_ms, _raw = results.get(timeout=300)
        received += channel_ms
    for process in crowd:
        process.join(60)
    return {
        "clients": connected,
        "delivered": f"{len(received)}/{probes * connected}",
        "fanout_p50_ms": round(statistics.median(received), 1) if received else None,
        "fanout_p99_ms": round(percentile(received, 0.99), 1) if received else None,
    }


def mixed(
    hubs: list[int], seconds: float, workers: int, clients: int, light: bool
) -> tuple[list[dict], list[dict]]:
    """Per target: the mixed workload with fan-out, then (if `light`) the light one."""
    os.environ.update(NO_LIMITS)
    rows: list[dict] = []
    light_rows: list[dict] = []
    for make in [lambda f: SingleHub(f), *[lambda f, n=n: Cluster(f, n) for n in hubs]]:
        with tempfile.TemporaryDirectory() as folder:
            os.chmod(folder, 0o755)  # as root, PostgreSQL runs as `postgres`
            target = make(folder)
            try:
                channel_id = seed(target)
                row = {"target": target.name, **workload(target, channel_id, workers, seconds)}
                row.update(fan_out(target, channel_id, clients, probes=20))
                rows.append(row)
                print_table([row])
                if light:
                    measured = workload(target, channel_id, workers, seconds, light=True)
                    light_rows.append({"target": target.name, **measured})
                    print_table(light_rows[-1:])
            finally:
                target.stop()
    return _against_single(rows), _against_single(light_rows)


def _against_single(rows: list[dict]) -> list[dict]:
    single = rows[0]["requests_s"] if rows else 0
    for row in rows:
        row["vs_single"] = round(row["requests_s"] / single, 2) if single else None
    return rows


# ---- vector search: pgvector next to FAISS
def vectors(count: int, dimension: int = 384, queries: int = 200) -> list[dict]:
    from neurocache.search.vectors import IndexPolicy, VectorIndex

    # Clustered, as embeddings of text are (uniform random vectors in 384-d have no
    # near neighbours to find, and every approximate index scores near zero on them).
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((max(1, count // 100), dimension)).astype(np.float32)
    data = centres[rng.integers(0, len(centres), count)] + 0.5 * rng.standard_normal(
        (count, dimension)
    ).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    asked = data[rng.choice(count, queries, replace=False)] + 0.1 * rng.standard_normal(
        (queries, dimension)
    ).astype(np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    truth = np.argsort(-(asked @ data.T), axis=1)[:, :10]
    rows = [_faiss_row(VectorIndex.exact(dimension), data, asked, truth, "FAISS exact (flat)")]
    policy = IndexPolicy()
    lists = policy.lists_for(count)
    sample = data[rng.choice(count, min(count, lists * 64), replace=False)]
    rows.append(
        _faiss_row(
            VectorIndex.inverted(sample, lists, policy.nprobe),
            data,
            asked,
            truth,
            f"FAISS IVF{lists} nprobe {policy.nprobe} (the hub's above 50k)",
        )
    )
    rows.extend(_pgvector_row(data, asked, truth))
    return rows


def _faiss_row(
    index: Any, data: np.ndarray, asked: np.ndarray, truth: np.ndarray, name: str
) -> dict:
    began = time.perf_counter()
    index.add(list(range(len(data))), data)
    built = time.perf_counter() - began
    times, found = [], []
    for query in asked:
        began = time.perf_counter()
        hits = index.search(query, 10)
        times.append(1000 * (time.perf_counter() - began))
        found.append([r for r, _ in hits])
    return _vector_row(name, built, times, found, truth)


def _vector_row(
    name: str, built: float, times: list[float], found: list, truth: np.ndarray
) -> dict:
    recall = np.mean(
        [len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
    )
    return {
        "index": name,
        "build_s": round(built, 1),
        "search_p50_ms": round(statistics.median(times), 2),
        "search_p99_ms": round(percentile(times, 0.99), 2),
        "recall_at_10": round(float(recall), 3),
    }


def _pgvector_row(data: np.ndarray, asked: np.ndarray, truth: np.ndarray) -> list[dict]:
    import psycopg

    from neurocache.cluster.services import Postgres, free_port
    from neurocache.store.sql import vector_text

    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        server = Postgres("postgres", free_port(), folder=Path(folder) / "pg")
        server.start()
        try:
            url = server.url.replace("postgresql+psycopg", "postgresql")
            with psycopg.connect(url, autocommit=True) as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                db.execute(f"CREATE TABLE v (id bigint PRIMARY KEY, e vector({data.shape[1]}))")
                with db.cursor().copy("COPY v (id, e) FROM STDIN") as copy:
                    for i, row in enumerate(data):
                        copy.write_row((i, vector_text(row)))
                began = time.perf_counter()
                db.execute("CREATE INDEX ON v USING hnsw (e vector_cosine_ops)")
                built = time.perf_counter() - began
                rows_out = []
                for ef in (40, 100, 200, 400, 800):
                    db.execute(f"SET hnsw.ef_search = {ef}")
                    times, found = [], []
                    for query in asked:
                        text = vector_text(query)
                        began = time.perf_counter()
                        rows = db.execute(
                            "SELECT id FROM v ORDER BY e <=> %s::vector LIMIT 10", (text,)
                        ).fetchall()
                        times.append(1000 * (time.perf_counter() - began))
                        found.append([r[0] for r in rows])
                    name = f"pgvector HNSW (m 16, ef_search {ef})"
                    rows_out.append(_vector_row(name, built, times, found, truth))
        finally:
            server.stop()
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hubs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--skip-mixed", action="store_true")
    parser.add_argument("--skip-light", action="store_true")
    parser.add_argument("--skip-vectors", action="store_true")
    options = parser.parse_args()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "options": vars(options)}
    if not options.skip_mixed:
        results["mixed"], results["light"] = mixed(
            options.hubs, options.seconds, options.workers, options.clients, not options.skip_light
        )
        print_table(results["mixed"], "Mixed workload (60% search, 20% writes, 20% messages)")
        if results["light"]:
            title = "Light workload (60% full-text search, 20% reads, 20% messages)"
            print_table(results["light"], title)
    if not options.skip_vectors:
        results["vectors"] = vectors(options.vectors)
        print_table(results["vectors"], f"Vector search at {options.vectors} vectors (384-d)")
    out = HERE / "results" / "cluster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

"""Channel fan-out: how fast a message posted to a channel reaches every client in it.

Starts `neurocache serve` in a subprocess, creates a channel, and for each crowd size
connects that many python-socketio AsyncClients (WebSocket) that all join the channel's
room (the crowd spread over two client processes). Then, in the same run:
- channel: 20 messages posted over HTTP (`POST /api/v1/channels/{id}/messages`: stored,
  cached, queued for embedding, then emitted), latency from before the POST to each
  client's `message.created`;
- raw: the same number of Socket.IO pub/sub messages (`publish` → `event`, nothing stored),
  the fan-out of the library underneath, for the ratio;
- accepted: messages/s the hub takes from 4 HTTP posters at once with the crowd connected.
Prints a table and writes bench/results/realtime.json.

    python bench/realtime.py --clients 10 100 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import socketio

from _table import print_table
from socketio_clients import percentile, proc_status, start_server

HERE = Path(__file__).resolve().parent


class Crowd:
    """N clients in one channel's room, each noting when every message reached it."""

    def __init__(self, url: str, token: str, room: str) -> None:
        self.url, self.token, self.room = url, token, room
        self.clients: list[socketio.AsyncClient] = []
        self.channel_ms: list[float] = []
        self.raw_ms: list[float] = []

    async def connect(self, count: int) -> None:
        gate = asyncio.Semaphore(50)

        async def one() -> socketio.AsyncClient | None:
            client = socketio.AsyncClient(reconnection=False)
            client.on("message.created", lambda m: self._seen(self.channel_ms, m["content"]))
            client.on("event", lambda e: self._seen(self.raw_ms, e["content"]))
            async with gate:
                try:
                    await client.connect(
                        self.url,
                        auth={"token": self.token},
                        transports=["websocket"],
                        wait_timeout=30,
                    )
                    await client.call("join", {"room": self.room}, timeout=30)
                    await client.call("subscribe", {"channels": ["bench"]}, timeout=30)
                    return client
                except Exception:  # counted: connected < asked
                    return None

        self.clients = [c for c in await asyncio.gather(*(one() for _ in range(count))) if c]

    @staticmethod
    def _seen(into: list[float], content: str | dict) -> None:
        probe = json.loads(content) if isinstance(content, str) else content
        if probe.get("probe"):  # not the posts that measure the accepted rate
            into.append(1000 * (time.time() - probe["t"]))

    async def close(self) -> None:
        await asyncio.gather(*(c.disconnect() for c in self.clients if c.connected))


def crowd_process(
    url: str, token: str, room: str, count: int, ready: mp.Queue, results: mp.Queue, stop: Any
) -> None:
    """One client process's share of the crowd (a second core decodes what it receives,
    so the latency measured is less the clients' own queue)."""

    async def run() -> None:
        crowd = Crowd(url, token, room)
        await crowd.connect(count)
        ready.put(len(crowd.clients))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        results.put((crowd.channel_ms, crowd.raw_ms))
        await crowd.close()

    asyncio.run(run())


def post(url: str, token: str, channel_id: str, content: str) -> int:
    return requests.post(
        f"{url}/api/v1/channels/{channel_id}/messages",
        json={"content": content},
        timeout=60,
        headers={"Authorization": f"Bearer {token}"},
    ).status_code


def accepted_per_s(url: str, token: str, channel_id: str, posters: int, each: int) -> float:
    def run(worker: int) -> None:
        with requests.Session() as session:
            for i in range(each):
                session.post(
                    f"{url}/api/v1/channels/{channel_id}/messages",
                    timeout=60,
                    json={"content": json.dumps({"t": time.time(), "w": worker, "i": i})},
                    headers={"Authorization": f"Bearer {token}"},
                )

    started = time.perf_counter()
    with ThreadPoolExecutor(posters) as pool:
        list(pool.map(run, range(posters)))
    return posters * each / (time.perf_counter() - started)


def stats(values: list[float]) -> tuple[float, float]:
    values = values or [float("nan")]
    return round(statistics.median(values), 1), round(percentile(values, 0.99), 1)


def measure(
    url: str, token: str, channel: dict, count: int, messages: int, pid: int, processes: int
) -> dict:
    context = mp.get_context("fork")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    shares = [count // processes + (i < count % processes) for i in range(processes)]
    crowd = [
        context.Process(
            target=crowd_process, args=(url, token, channel["room"], n, ready, results, stop)
        )
        for n in shares
    ]
    for process in crowd:
        process.start()
    connected = sum(ready.get(timeout=300) for _ in crowd)
    for _ in range(messages):
        post(url, token, channel["id"], json.dumps({"t": time.time(), "probe": 1}))
        time.sleep(0.25)
    with socketio.SimpleClient() as publisher:
        publisher.connect(url, auth={"token": token}, transports=["websocket"])
        for _ in range(messages):
            publisher.call(
                "publish", {"channel": "bench", "content": {"t": time.time(), "probe": 1}}
            )
            time.sleep(0.25)
    time.sleep(2)
    rate = accepted_per_s(url, token, channel["id"], 4, 50)
    rss = proc_status(pid)["rss_mb"]
    stop.set()
    channel_ms, raw_ms = [], []
    for _ in crowd:
        got_channel, got_raw = results.get(timeout=300)
        channel_ms += got_channel
        raw_ms += got_raw
    for process in crowd:
        process.join(60)
    channel_p50, channel_p99 = stats(channel_ms)
    raw_p50, raw_p99 = stats(raw_ms)
    return {
        "clients": count,
        "connected": connected,
        "delivered": f"{len(channel_ms)}/{messages * connected}",
        "channel_p50_ms": channel_p50,
        "channel_p99_ms": channel_p99,
        "raw_p50_ms": raw_p50,
        "raw_p99_ms": raw_p99,
        "p99_ratio": round(channel_p99 / raw_p99, 2) if raw_p99 else None,
        "accepted_msg_s": round(rate, 1),
        "hub_rss_mb": round(rss, 1),
    }


def run(sizes: list[int], messages: int, processes: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as data_dir:
        process, url, token = start_server("threading", data_dir)
        try:
            channel = requests.post(
                f"{url}/api/v1/channels",
                json={"name": "bench"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).json()
            return [
                measure(url, token, channel, n, messages, process.pid, processes) for n in sizes
            ]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument(
        "--client-processes", type=int, default=2, help="Processes the crowd is spread over."
    )
    args = parser.parse_args()
    rows = run(args.clients, args.messages, args.client_processes)
    print_table(rows, "Channel fan-out (latency from the POST to each client's event)")
    out = HERE / "results" / "realtime.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": rows}, indent=2))
    print(f"\nwritten: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

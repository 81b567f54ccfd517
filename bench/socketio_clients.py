"""How each Socket.IO server mode holds many concurrent clients.

Starts the hub in a subprocess (threading mode: `neurocache serve`; gevent: the same app
in bench/_gevent_hub.py), connects N python-socketio AsyncClients over WebSocket, has one
of them publish timestamped messages to a pub/sub channel all the others subscribe to,
then stops the hub with SIGTERM. Prints a table and writes bench/results/socketio_clients.json.

    python bench/socketio_clients.py --clients 500 --messages 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import socketio

from _table import print_table

HERE = Path(__file__).resolve().parent
URL_LINE = re.compile(r"Open the hub: (http://[^/]+)/\?token=(\S+)")
SERVERS = {
    "threading": lambda data: [
        sys.executable,
        "-m",
        "neurocache",
        "serve",
        "--port",
        "0",
        "--data-dir",
        data,
        "--log-level",
        "WARNING",
    ],
    "gevent": lambda data: [sys.executable, str(HERE / "_gevent_hub.py"), data],
}


def start_server(mode: str, data_dir: str) -> tuple[subprocess.Popen, str, str]:
    process = subprocess.Popen(
        SERVERS[mode](data_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    for line in process.stdout:
        match = URL_LINE.search(line)
        if match:
            return process, match.group(1), match.group(2)
    raise RuntimeError(f"{mode} server did not start")


def proc_status(pid: int) -> dict[str, float]:
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ":" in line
    )
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"])}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def connect_all(url: str, token: str, count: int, latencies: list[float]):
    clients: list[socketio.AsyncClient] = []
    gate = asyncio.Semaphore(50)  # connect 50 at a time, as a crowd of reconnects would

    async def one() -> socketio.AsyncClient | None:
        client = socketio.AsyncClient(reconnection=False)
        client.on("event", lambda data: latencies.append(time.time() - data["content"]["t"]))
        async with gate:
            try:
                await client.connect(
                    url, auth={"token": token}, transports=["websocket"], wait_timeout=30
                )
                await client.call("subscribe", {"channels": ["bench"]}, timeout=30)
                return client
            except Exception:  # counted as a failure below
                return None

    results = await asyncio.gather(*(one() for _ in range(count)))
    clients = [c for c in results if c is not None]
    return clients


async def run_mode(mode: str, count: int, messages: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory() as data_dir:
        process, url, token = start_server(mode, data_dir)
        idle = proc_status(process.pid)
        latencies: list[float] = []
        started = time.perf_counter()
        clients = await connect_all(url, token, count, latencies)
        connect_s = time.perf_counter() - started
        loaded = proc_status(process.pid)
        publisher = clients[0]
        for _ in range(messages):
            await publisher.call(
                "publish", {"channel": "bench", "content": {"t": time.time()}}, timeout=30
            )
            await asyncio.sleep(0.25)
        await asyncio.sleep(2)
        delivered = len(latencies)
        started = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(process.wait, 30)
        stop_s = time.perf_counter() - started
        await asyncio.sleep(1)
        still_connected = sum(1 for c in clients if c.connected)
        for client in clients:
            if client.connected:
                await client.disconnect()
    latencies_ms = [1000 * v for v in latencies] or [float("nan")]
    return {
        "mode": mode,
        "clients": count,
        "connected": len(clients),
        "connect_all_s": round(connect_s, 2),
        "idle_rss_mb": round(idle["rss_mb"], 1),
        "rss_mb": round(loaded["rss_mb"], 1),
        "threads": loaded["threads"],
        "delivered": f"{delivered}/{messages * len(clients)}",
        "fanout_p50_ms": round(statistics.median(latencies_ms), 1),
        "fanout_p99_ms": round(percentile(latencies_ms, 0.99), 1),
        "stop_s": round(stop_s, 2),
        "exit_code": exit_code,
        "left_connected": still_connected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--modes", nargs="+", default=list(SERVERS), choices=list(SERVERS))
    args = parser.parse_args()
    rows = [asyncio.run(run_mode(mode, args.clients, args.messages)) for mode in args.modes]
    print_table(rows)
    out = HERE / "results" / "socketio_clients.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": rows}, indent=2))
    print(f"\nwritten: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

"""One large document through a real hub process: memory while it is taken in, and whether
the time it takes grows with its size (linear) or faster.

A text file of generated prose (distinct sentences, so nothing is deduplicated) is uploaded
to `neurocache serve` (its own process, so its RSS is the hub's alone) and indexed; the
hub's resident memory (with its children) is sampled every 0.2 s from the upload to the end
of the job. Each size runs in a fresh data dir.

    python bench/ingest_large.py [--sizes 10 30] [--rss-size 50]

`--sizes`: MB of text whose ingestion times are compared (time per MB should be flat);
`--rss-size`: the MB whose peak RSS is reported (by default the largest of `--sizes`).
Prints a table and writes bench/results/ingest_large.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _table import print_table  # noqa: E402
from ingest import prose  # noqa: E402


def write_text(path: Path, megabytes: float, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    target, written, number = int(megabytes * 1e6), 0, 0
    with open(path, "w", encoding="utf-8") as out:
        while written < target:
            paragraph = prose(rng, number) + "\n\n"
            out.write(paragraph)
            written += len(paragraph)
            number += 1
    return written


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its children (model servers: none run here)."""
    total = 0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stop.wait(0.2):
            rss = rss_bytes(self.pid)
            self.peak = max(self.peak, rss)
            self.samples.append((time.perf_counter() - started, rss))

    def peak_between(self, start_s: float, end_s: float) -> int:
        return max((rss for t, rss in self.samples if start_s <= t <= end_s), default=0)


def start_hub(data_dir: Path) -> tuple[subprocess.Popen, str, str]:
    env = {**os.environ, "NEUROCACHE_DATA_DIR": str(data_dir), "NEUROCACHE_LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, "-m", "neurocache", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    runtime = data_dir / "hub.json"
    deadline = time.monotonic() + 60
    while not runtime.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the hub did not start")
        time.sleep(0.1)
    url = json.loads(runtime.read_text())["url"]
    token = (data_dir / "owner_token").read_text().strip()
    return process, url, token


def ingest_one(folder: Path, megabytes: float, cancel_after_s: float | None = None) -> dict:
    data_dir, text = folder / f"hub-{megabytes}", folder / f"text-{megabytes}.txt"
    size = write_text(text, megabytes)
    process, url, token = start_hub(data_dir)
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    try:
        http.post(f"{url}/api/v1/search", json={"query": "warm up"}, timeout=60)
        idle = rss_bytes(process.pid)
        sampler = Sampler(process.pid)
        sampler.start()
        started = time.perf_counter()
        with open(text, "rb") as handle:
            answer = http.post(
                f"{url}/api/v1/documents", timeout=3600, files={"file": (text.name, handle)}
            ).json()
        uploaded_s = time.perf_counter() - started
        job_id, etas = answer["job"]["id"], []
        while (job := http.get(f"{url}/api/v1/jobs/{job_id}", timeout=60).json())["status"] in (
            "queued",
            "running",
        ):
            if job.get("eta_s") is not None:
                etas.append((round(time.perf_counter() - started), job["progress"], job["eta_s"]))
            if cancel_after_s and time.perf_counter() - started > cancel_after_s:
                http.delete(f"{url}/api/v1/jobs/{job_id}", timeout=60)
            time.sleep(1.0)
        seconds = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        document = http.get(f"{url}/api/v1/documents/{answer['document']['id']}", timeout=60).json()
    finally:
        process.terminate()
        process.wait(60)
    return {
        "mb": megabytes,
        "bytes": size,
        "status": job["status"],
        "progress": job["progress"],
        "upload_s": round(uploaded_s, 1),
        "chunks": document["chunk_count"],
        "seconds": round(seconds, 1),
        "s_per_mb": round(seconds / (size / 1e6), 2),
        "idle_rss_mb": round(idle / 1e6),
        "upload_peak_mb": round(sampler.peak_between(0, uploaded_s + 0.2) / 1e6),
        "indexing_peak_mb": round(sampler.peak_between(uploaded_s + 0.2, seconds) / 1e6),
        "peak_rss_mb": round(sampler.peak / 1e6),
        "eta_samples": etas[::10],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=float, nargs="+", default=[10, 30])
    parser.add_argument("--rss-size", type=float, default=50)
    parser.add_argument(
        "--rss-minutes",
        type=float,
        default=None,
        help="cancel the RSS run after this long (its peak so far is kept)",
    )
    args = parser.parse_args()
    sizes = sorted({*args.sizes, args.rss_size})
    with tempfile.TemporaryDirectory(prefix="nc-bench-large-") as temp:
        runs = [
            ingest_one(
                Path(temp),
                mb,
                (args.rss_minutes or 0) * 60
                if mb == args.rss_size and mb not in args.sizes
                else None,
            )
            for mb in sizes
        ]
    rows = [{k: v for k, v in run.items() if k != "eta_samples"} for run in runs]
    timed = [r for r in runs if r["mb"] in args.sizes]
    ratio = timed[-1]["seconds"] / timed[0]["seconds"] if len(timed) > 1 else None
    size_ratio = timed[-1]["bytes"] / timed[0]["bytes"] if len(timed) > 1 else None
    title = "One large text document through a hub process"
    if ratio:
        title += f"; time {ratio:.2f}x for {size_ratio:.1f}x the text (linear: equal)"
    print_table(rows, title)
    out = HERE / "results" / "ingest_large.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps({"runs": runs, "time_ratio": ratio, "size_ratio": size_ratio}, indent=1)
    )


if __name__ == "__main__":
    main()

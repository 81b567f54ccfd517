"""Start-up of the hub binaries (build_scripts/build.py builds them; this builds nothing),
next to the hub run from source.

For each: time from launch to `GET /api/v1/health` answering (median of N launches on a
data dir made by a first, separately timed launch), idle memory (VmRSS of the hub and its
child processes, summed, after a few seconds idle), and size on disk (the onefile's file;
the onedir folder's total). Linux only (/proc).

    python bench/startup.py [--onedir PATH] [--onefile PATH] [--runs 5] [--idle 3]

Prints a table and writes bench/results/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from _table import print_table  # noqa: E402
from build_scripts.build import binary_name, folder_size, output_of  # noqa: E402
from neurocache.llm.supervisor import free_port  # noqa: E402
from tests.support.proc import descendants, rss_bytes  # noqa: E402

TARGETS = {"ready_s": 2.0, "idle_rss_MB": 200, "size_MB": 250}


def launch(
    command: list[str], data_dir: Path, timeout: float = 120
) -> tuple[subprocess.Popen, float]:
    """Start a hub; return it and the seconds until its health check answered."""
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while time.perf_counter() - began < timeout:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).ok:
                return process, time.perf_counter() - began
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise SystemExit(f"{command[0]} exited with {process.returncode}")
        time.sleep(0.01)
    process.kill()
    raise SystemExit(f"{command[0]} was not healthy after {timeout} s")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def idle_rss(process: subprocess.Popen) -> tuple[int, int]:
    """(bytes resident in the hub and its descendants, how many processes)."""
    pids = [process.pid, *descendants(process.pid)]
    return sum(rss_bytes(pid) for pid in pids), len(pids)


def measure(name: str, command: list[str], size: int | None, runs: int, idle_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        process, first = launch(command, data_dir)  # makes the data dir, runs migrations
        stop(process)
        times, memory = [], []
        for _ in range(runs):
            process, took = launch(command, data_dir)
            times.append(took)
            time.sleep(idle_s)
            memory.append(idle_rss(process))
            stop(process)
    return {
        "build": name,
        "size_MB": round(size / 1e6) if size is not None else "-",
        "first_start_s": round(first, 2),
        "ready_s": round(statistics.median(times), 2),
        "ready_min_s": round(min(times), 2),
        "ready_max_s": round(max(times), 2),
        "idle_rss_MB": round(statistics.median(m[0] for m in memory) / 1e6),
        "processes": memory[-1][1],
        "runs": runs,
    }


def default_paths() -> tuple[Path, Path]:
    name = binary_name("cpu")
    return output_of(name, onefile=False)[1], output_of(name, onefile=True)[1]


def main() -> None:
    onedir, onefile = default_paths()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onedir", type=Path, default=onedir, help="its executable")
    parser.add_argument("--onefile", type=Path, default=onefile)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before RSS")
    args = parser.parse_args()

    builds = [("source (python -m neurocache)", [sys.executable, "-m", "neurocache"], None)]
    if args.onedir.is_file():
        builds.append(("onedir", [str(args.onedir)], folder_size(args.onedir.parent)))
    if args.onefile.is_file():
        builds.append(("onefile", [str(args.onefile)], folder_size(args.onefile)))
    if len(builds) == 1:
        raise SystemExit(
            f"no binary at {args.onedir} or {args.onefile}: "
            "python build_scripts/build.py --variant cpu [--onefile]"
        )
    rows = [measure(name, command, size, args.runs, args.idle) for name, command, size in builds]
    print_table(
        rows,
        f"Hub start-up, launch to healthy (cpus: {os.cpu_count()}; targets: "
        f"onedir ready <= {TARGETS['ready_s']} s, idle <= "
        f"{TARGETS['idle_rss_MB']} MB, binary <= {TARGETS['size_MB']} MB)",
    )
    out = HERE / "results" / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "system": platform.platform()},
                "targets": TARGETS,
                "startup": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""A process and its descendants, read from /proc (Linux): who they are, what they hold."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


def parent_of(pid: int) -> int | None:
    try:  # the command name may hold spaces and parentheses: split after the last ")"
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    """Every living process below `pid` (children, theirs, ...)."""
    parents = {
        int(e.name): parent_of(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()
    }
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def rss_bytes(pid: int) -> int:
    """Resident memory (VmRSS) of one process; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# The line a serving hub prints with its sign-in link.
URL_LINE = re.compile(r"Open the hub: (http://127\.0\.0\.1:(\d+))/\?token=(nco_\S+)")


def start_serve(data_dir: Path, *args: str) -> tuple[subprocess.Popen, re.Match]:
    """`neurocache serve` in a process of its own, once it printed its URL."""
    env = {**os.environ, "NEUROCACHE_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "neurocache", "serve", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stderr.read()}")
        match = URL_LINE.search(line)
        if match:
            return process, match
    process.kill()
    raise AssertionError("serve printed no URL")

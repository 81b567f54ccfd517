"""Model servers as supervised child processes.

Each runs on a free loopback port, in its own process group, started and watched by one
long-lived thread: it waits for readiness (`GET /v1/models`), health-checks, and restarts
the server when it dies — noticed the moment the process exits, not at the next health
check; the state reads `restarting` until the new one answers. The first restart is at
once, later ones back off exponentially; it gives up (state `failed`, with the reason)
after repeated crashes, or at once when the server says the file cannot be loaded (an
unknown architecture, a damaged file: trying again cannot help). Its output goes to a
bounded buffer and a log file. Stopping is terminate, then kill, of the whole group.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neurocache.errors import NeurocacheError
from neurocache.llm.client import OpenAIClient
from neurocache.llm.gpu import GpuPlan, LayerPlacement
from neurocache.llm.records import ServerState
from neurocache.threads import Threads

log = logging.getLogger("neurocache.llm")
LOG_LINES_KEPT = 2000
LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
HEALTH_MISSES_ALLOWED = 3
STABLE_AFTER_S = 60.0  # a server up this long has its crash count forgiven
STOP_GRACE_S = 5.0
# What llama.cpp (and llama-cpp-python, llamafile) print when a file cannot be loaded, most
# telling first: the cause a person can act on, rather than Python's last line
# (`ValueError: Failed to load model from file`).
LOAD_FAILURES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(unknown model architecture: .+)",
        r"error loading model(?: architecture)?: (.+)",
        r"(invalid magic.*|not a gguf file.*)",
        r"(failed to (?:allocate|load) .+|out of memory.*|cannot allocate memory.*)",
    )
]


def load_failure(lines: list[str]) -> str | None:
    """Why the server could not load its model, from its output; None when it did not
    say (then it may have crashed for a reason a restart mends)."""
    for pattern in LOAD_FAILURES:
        for line in reversed(lines):
            found = pattern.search(line)
            if found:
                return found.group(1).strip().rstrip(".")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ModelProcess:
    """One model server, kept running until `stop()`."""

    def __init__(
        self,
        model_id: str,
        command_for_port: Callable[[int], list[str]],
        *,
        log_path: Path,
        on_change: Callable[[ModelProcess], None] = lambda _p: None,
        start_timeout_s: float = 120.0,
        health_interval_s: float = 5.0,
        max_restarts: int = 5,
        gpu_plan: GpuPlan | None = None,
        threads: Threads | None = None,
    ) -> None:
        self.model_id = model_id
        self.threads = threads or Threads()
        self.command_for_port = command_for_port
        self.log_path = log_path
        self.on_change = on_change
        self.start_timeout_s = start_timeout_s
        self.health_interval_s = health_interval_s
        self.max_restarts = max_restarts
        self.gpu_plan = gpu_plan
        self.state = "stopped"  # starting | running | restarting | failed | stopped
        self.error: str | None = None
        self.port: int | None = None
        self.restarts = 0
        self.placement = LayerPlacement()
        self._lines: deque[str] = deque(maxlen=LOG_LINES_KEPT)
        self._process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set when the server exits or is told to stop
        self._state_changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._collector: threading.Thread | None = None  # reads the running server's output
        self._lock = threading.Lock()  # the output lines
        self._control = threading.Lock()  # start: one supervising thread, never two

    # ---- what others see
    @property
    def base_url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}/v1" if self.port else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def status(self) -> ServerState:
        """Its state; the GPU plan's fields only when it was given one."""
        return ServerState.model_validate(
            {
                "state": self.state,
                "error": self.error,
                "port": self.port,
                "pid": self.pid,
                "restarts": self.restarts,
                **(self.gpu_plan or {}),
                "placement": self.placement.summary(),
            }
        )

    def logs(self, lines: int = 200) -> list[str]:
        with self._lock:
            return list(self._lines)[-lines:]

    def wait_running(self, timeout_s: float) -> bool:
        """Wait while it starts or restarts (at most `timeout_s`); whether it runs now. A
        server that just died reads `running` for an instant: it counts only when alive."""
        deadline = time.monotonic() + timeout_s
        with self._state_changed:
            while True:
                if self.state == "running" and self.pid is not None:
                    return True
                left = deadline - time.monotonic()
                if self.state in ("failed", "stopped") or left <= 0:
                    return False
                self._state_changed.wait(min(left, 0.1))

    # ---- control
    def start(self) -> None:
        with self._control:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self.restarts, self.error = 0, None
            self._set("starting")  # before returning, so no caller sees the old state
            self._thread = self.threads.start(f"model-{self.model_id}", self._supervise)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._terminate()
        if self._thread is not None:
            self._thread.join(STOP_GRACE_S * 3)
        self._set("stopped")

    # ---- the supervising thread
    def _supervise(self) -> None:
        crashes = 0
        while not self._stopping.is_set():
            began = time.monotonic()
            reason, hopeless = self._run_once()
            if self._stopping.is_set():
                return
            crashes = 1 if time.monotonic() - began > STABLE_AFTER_S else crashes + 1
            log.warning("model %s: %s", self.model_id, reason)
            if hopeless:
                self._set("failed", reason)
                return
            if crashes > self.max_restarts:
                self._set("failed", f"{reason}; gave up after {crashes} crashes in a row")
                return
            self.restarts += 1
            self._set("restarting", reason)
            # The first restart at once (a killed server is back in a second or two), then
            # waits that double: a server that keeps crashing is not hammered.
            if crashes > 1 and self._stopping.wait(min(2 ** (crashes - 2), 30)):
                return

    def _run_once(self) -> tuple[str, bool]:
        """Start the server, watch it; returns why it ended, and whether trying again is
        hopeless (the file cannot be loaded)."""
        self.port = free_port()
        self.placement = LayerPlacement()
        self._wake.clear()
        if self.state != "restarting":  # a restart reads `restarting` until it runs
            self._set("starting")
        try:
            self._process = self._spawn(self.command_for_port(self.port))
        except OSError as exc:
            return f"could not start: {exc}", False
        try:
            reason = self._wait_ready()
            if reason is not None:
                cause = load_failure(self.logs(LOG_LINES_KEPT))
                return (f"cannot load the model: {cause}", True) if cause else (reason, False)
            self._set("running")
            return self._watch(), False
        finally:
            self._terminate()

    def _spawn(self, command: list[str]) -> subprocess.Popen:
        self._rotate_log()
        extra: dict[str, Any]
        if sys.platform == "win32":
            extra = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            extra = {"start_new_session": True}  # its own group: stopped as a whole
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            **extra,
        )
        self._collector = self.threads.start(
            f"model-{self.model_id}-output", self._collect_output, process
        )
        self.threads.start(f"model-{self.model_id}-exit", self._await_exit, process)
        return process

    def _await_exit(self, process: subprocess.Popen) -> None:
        """The moment the server exits: no caller is told it runs, and the supervising
        thread is woken to restart it."""
        code = process.wait()
        if not self._stopping.is_set() and process is self._process:
            if self.state == "running":
                self._set("restarting", f"exited with code {code}: {self._last_line()}")
            self._wake.set()

    def _collect_output(self, process: subprocess.Popen) -> None:
        log_file = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - rotated below
        try:
            for line in process.stdout:  # type: ignore[union-attr]
                line = line.rstrip("\n")
                with self._lock:
                    self._lines.append(line)
                self.placement.feed(line)
                log_file.write(line + "\n")
                log_file.flush()
                if log_file.tell() > LOG_FILE_MAX_BYTES:  # a long-running, chatty server
                    log_file.close()
                    self._rotate_log()
                    log_file = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115
        finally:
            log_file.close()

    def _wait_ready(self) -> str | None:
        client = OpenAIClient(self.base_url or "", connect_timeout_s=1, read_timeout_s=2)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            code = self._process.poll() if self._process else -1
            if code is not None:
                if self._collector is not None:
                    self._collector.join(2.0)  # its last words, which say why
                return f"exited with code {code} while starting: {self._last_line()}"
            try:
                client.models(timeout_s=2)
                return None
            except NeurocacheError:
                self._wake.wait(0.1)
        if self._stopping.is_set():
            return "stopped"
        return f"not ready after {self.start_timeout_s:.0f} s: {self._last_line()}"

    def _watch(self) -> str:
        client = OpenAIClient(self.base_url or "", connect_timeout_s=2, read_timeout_s=5)
        misses = 0
        while not self._stopping.is_set():
            if self._wake.wait(self.health_interval_s):
                self._wake.clear()
            if self._stopping.is_set():
                break
            code = self._process.poll() if self._process else -1
            if code is not None:
                return f"exited with code {code}: {self._last_line()}"
            try:
                client.health(timeout_s=5)
                misses = 0
            except NeurocacheError:
                misses += 1
                if misses >= HEALTH_MISSES_ALLOWED:
                    return f"stopped answering health checks ({misses} in a row)"
        return "stopped"

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._signal_group(process, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
            process.wait(STOP_GRACE_S)

    @staticmethod
    def _signal_group(process: subprocess.Popen, signum: int) -> None:
        try:
            if sys.platform == "win32":
                process.terminate() if signum == signal.SIGTERM else process.kill()
            else:
                os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _last_line(self) -> str:
        """What the server last said, or why it could not load its model when it said so."""
        with self._lock:
            lines = list(self._lines)
        return load_failure(lines) or next(
            (line for line in reversed(lines) if line.strip()), "no output"
        )

    def _rotate_log(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists() and self.log_path.stat().st_size > LOG_FILE_MAX_BYTES:
            os.replace(self.log_path, self.log_path.with_suffix(".log.1"))

    def _set(self, state: str, error: str | None = None) -> None:
        with self._state_changed:
            self.state = state
            if error is not None or state in ("running", "stopped"):
                self.error = error
            self._state_changed.notify_all()
        self.on_change(self)

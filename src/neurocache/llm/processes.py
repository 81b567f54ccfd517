"""What runs in a model server's own process: the hub re-invoked in its model-server mode
(llama-cpp-python's OpenAI-compatible server), or the guard around a llamafile. Both end
themselves when the hub that started them is gone, so no model server outlives its hub."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from neurocache.threads import Threads


def self_command() -> list[str]:
    """How to run this hub's CLI again: the frozen binary itself, or `python -m neurocache`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "neurocache"]


def die_with_parent(parent_pid: int, on_gone: Callable[[], None]) -> None:
    """Call `on_gone` once the parent process is gone.

    On Linux the kernel signals us at once (PR_SET_PDEATHSIG); everywhere a thread also
    notices that we were re-parented, within a second."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent_pid:
        on_gone()
        return

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        on_gone()

    Threads().start("parent-watch", watch)  # in the model server's process, not the hub's


def run_model_server(
    model: str,
    host: str,
    port: int,
    *,
    parent_pid: int | None,
    embedding: bool = False,
    n_ctx: int = 4096,
    n_gpu_layers: int = 0,
    alias: str | None = None,
) -> None:
    """Serve one GGUF with llama-cpp-python's OpenAI-compatible server until stopped."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    if parent_pid is not None:
        die_with_parent(parent_pid, lambda: os.kill(os.getpid(), signal.SIGTERM))
    settings = ModelSettings(
        model=model,
        model_alias=alias or os.path.basename(model),
        embedding=embedding,
        n_ctx=n_ctx,
        n_gpu_layers=n_gpu_layers,
        verbose=True,  # llama.cpp's log: GPU offload
    )
    # interrupt_requests (its default) ends a streaming reply as soon as any other request
    # arrives, a health check or a second conversation included: replies were cut short.
    # Requests now wait their turn, and health checks go to /health, which takes no lock.
    app = create_app(
        server_settings=ServerSettings(host=host, port=port, interrupt_requests=False),
        model_settings=[settings],
    )
    app.add_api_route("/health", lambda: {"status": "ok"}, methods=["GET"])
    uvicorn.run(app, host=host, port=port, log_level="warning")


def run_guarded(command: list[str], parent_pid: int) -> int:
    """Run `command` (a llamafile) as our child, and end it when the hub is gone or when
    we are told to stop. Returns its exit code."""
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC or os.name != "posix":
            raise
        # An APE (llamafile) is also a shell script; some kernels and binfmt setups refuse
        # to exec it directly, and `sh` runs it everywhere.
        child = subprocess.Popen(["sh", *command])

    def stop(*_args: object) -> None:
        # Only signal here: this may run inside a signal handler while the main thread
        # waits on the child, and a second wait would stall. A timer escalates to kill.
        if child.poll() is None:
            child.terminate()
            Threads().later(5.0, kill)

    def kill() -> None:
        if child.poll() is None:
            child.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    die_with_parent(parent_pid, stop)
    code = child.wait()
    return 128 - code if code < 0 else code  # killed by signal N: exit 128 + N, as shells do

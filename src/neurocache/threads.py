"""Every thread the hub runs is started here: one registry per hub (the runtime's), so
shutdown can wait for them and say which one would not stop, and a test can ask what still
runs. Services are handed the hub's `Threads` (or make their own when built alone) and never
call `threading.Thread`, `threading.Timer` or `ThreadPoolExecutor` themselves
(tests/unit/test_runtime_parts.py checks the source)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class Threads:
    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._pools: list[tuple[str, ThreadPoolExecutor]] = []
        self._lock = threading.Lock()

    def start(self, name: str, target: Callable[..., object], *args: object) -> threading.Thread:
        """A daemon thread running `target(*args)`, started and kept track of."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._keep(thread)
        thread.start()
        return thread

    def later(self, delay_s: float, function: Callable[[], object]) -> threading.Timer:
        """`function()` after `delay_s` on a daemon thread, unless cancelled first."""
        timer = threading.Timer(delay_s, function)
        timer.daemon = True
        self._keep(timer)
        timer.start()
        return timer

    def pool(
        self, name: str, workers: int, initializer: Callable[[], object] | None = None
    ) -> ThreadPoolExecutor:
        """A pool of up to `workers` threads named `name-N`; its owner shuts it down."""
        pool = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name, initializer=initializer
        )
        with self._lock:
            self._pools = [(n, p) for n, p in self._pools if not _shut(p)]
            self._pools.append((name, pool))
        return pool

    def alive(self) -> list[str]:
        """The names of the threads and the open pools still running."""
        with self._lock:
            threads = [t.name for t in self._threads if t.is_alive()]
            return threads + [f"pool {n}" for n, p in self._pools if not _shut(p)]

    def join(self, timeout_s: float) -> list[str]:
        """Waits up to `timeout_s` in all for the threads to end; those that did not."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in threads if t.is_alive() and t is not threading.current_thread()]

    def _keep(self, thread: threading.Thread) -> None:
        with self._lock:  # the finished ones are forgotten, so the list stays short
            self._threads = [t for t in self._threads if t.ident is None or t.is_alive()]
            self._threads.append(thread)


def _shut(pool: ThreadPoolExecutor) -> bool:
    return bool(getattr(pool, "_shutdown", False))

"""The one owner of background work (runtime/parts.py): parts start in order and stop in
the reverse order, each stop guarded, once."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from neurocache.runtime.parts import Runtime
from neurocache.threads import Threads


def test_parts_start_in_order_and_stop_last_first_even_when_one_fails(caplog):
    runtime, seen = Runtime(), []

    def broken() -> None:
        seen.append("stop b")
        raise RuntimeError("stuck")

    runtime.add("a", start=lambda: seen.append("start a"), stop=lambda: seen.append("stop a"))
    runtime.add("b", stop=broken)  # runs from when it is built: nothing to start
    runtime.add("c", start=lambda: seen.append("start c"), stop=lambda: seen.append("stop c"))
    runtime.start()
    with caplog.at_level(logging.ERROR, logger="neurocache.runtime"):
        runtime.stop()
        runtime.stop()  # twice is once
    assert seen == ["start a", "start c", "stop c", "stop b", "stop a"]
    assert runtime.names == ["a", "b", "c"]
    assert "stopping b failed" in caplog.text


SRC = Path(__file__).resolve().parents[2] / "src" / "neurocache"
THREAD_STARTERS = ("threading.Thread(", "threading.Timer(", "ThreadPoolExecutor(")


def test_no_thread_is_started_outside_the_registry():
    """threads.py is the one place that calls them: shutdown can wait for every thread."""
    outside = [
        f"{path.relative_to(SRC)}: {starter}"
        for path in SRC.rglob("*.py")
        if path.name != "threads.py"
        for starter in THREAD_STARTERS
        if starter in path.read_text()
    ]
    assert outside == []


def test_stopping_waits_for_the_threads_it_started_and_names_any_left(caplog):
    runtime, release = Runtime(), threading.Event()
    runtime.threads.start("quick", lambda: None)
    runtime.threads.start("stuck", release.wait)
    pool = runtime.threads.pool("workers", 2)
    pool.submit(lambda: None).result()
    assert "stuck" in runtime.threads.alive() and "pool workers" in runtime.threads.alive()
    pool.shutdown(wait=True)
    with caplog.at_level(logging.WARNING, logger="neurocache.runtime"):
        runtime.stop()  # waits up to parts.JOIN_TIMEOUT_S for "stuck"
    assert "still running after the hub stopped: stuck" in caplog.text
    release.set()
    assert runtime.threads.join(5) == [] and runtime.threads.alive() == []


def test_a_timer_can_be_cancelled_before_it_fires():
    threads, fired = Threads(), []
    threads.later(0.2, lambda: fired.append(1)).cancel()
    assert threads.join(1) == [] and fired == []

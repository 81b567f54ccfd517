"""The hub's log says what a person needs: no access line per request at INFO, and a store
that is busy for a moment is one warning and a retry, not a traceback at ERROR."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from neurocache.app import create_app, hub_of
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.hub import assert_error, bearer


def hub_log(settings: Settings) -> str:
    return (settings.data_dir / "logs" / "hub.log").read_text()


@pytest.mark.parametrize(("level", "logged"), [("INFO", False), ("DEBUG", True)])
def test_access_lines_are_debug(tmp_path, level, logged):
    settings = Settings(data_dir=tmp_path, log_level=level)
    app = create_app(settings, testing=True)
    try:
        app.test_client().get("/api/v1/health")
        assert ("GET /api/v1/health 200" in hub_log(settings)) is logged
    finally:
        hub_of(app).close()


def hold_the_store(settings: Settings, seconds: float) -> threading.Thread:
    """Another writer holds SQLite's write lock for `seconds`."""
    held = threading.Event()

    def hold() -> None:
        with closing(sqlite3.connect(settings.data_dir / "neurocache.db")) as db:
            db.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(seconds)
            db.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    return holder


def test_a_write_that_finds_the_store_locked_is_a_503_to_try_again(tmp_path):
    settings = Settings(data_dir=tmp_path, store_busy_timeout_s=0.3)
    app = create_app(settings)  # not TESTING: errors are answered, not raised
    try:
        holder = hold_the_store(settings, 2.0)
        response = app.test_client().post(
            "/api/v1/collections",
            json={"name": "notes"},
            headers=bearer(hub_of(app).owner_token.value),
        )
        holder.join()
        error = assert_error(response, 503, "store_busy")
        assert "try again" in error["message"] and response.headers["Retry-After"] == "1"
        log = hub_log(settings)
        assert "WARNING neurocache.web" in log and "the store was busy" in log
        assert "Traceback" not in log
    finally:
        hub_of(app).close()


def test_a_job_that_finds_the_store_locked_runs_again(tmp_path):
    settings = Settings(data_dir=tmp_path, store_busy_timeout_s=0.3)
    app = create_app(settings, testing=True)
    hub = hub_of(app)
    try:
        hub.jobs.stop()  # queued while the store is held, then run
        accepted = hub.knowledge.add_text(
            title="Rivers", body="The Danube flows east.", fmt="text", actor=Actor("test")
        )
        holder = hold_the_store(settings, 1.0)
        hub.jobs.start()
        holder.join()
        assert hub.jobs.wait_idle(60)
        assert hub.jobs.get(accepted.job.id).status == "done"
        assert "Traceback" not in hub_log(settings)
    finally:
        hub.close()


LOADS_WHILE_PRINTING = """
import sys, threading, time
from neurocache.llm.embedder import BUILTIN_MODEL, LlamaEmbedder

loaded = threading.Event()

def load():
    for _ in range(3):
        LlamaEmbedder(BUILTIN_MODEL, contexts=1).close()
    loaded.set()

threading.Thread(target=load).start()
n = 0
while not loaded.is_set():
    print(f"line {n}", flush=True)
    n += 1
    time.sleep(0.0005)
print(f"wrote {n}", file=sys.stderr)
"""


def test_loading_a_model_loses_no_line_another_thread_prints():
    """llama-cpp-python used to point the process's stdout and stderr at /dev/null while a
    model loaded: `serve`'s sign-in line, printed meanwhile, was lost (more than half of
    these lines were). The load also says nothing on the console: llama.cpp's warnings
    are the hub log's debug detail."""
    done = subprocess.run(
        [sys.executable, "-c", LOADS_WHILE_PRINTING],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    written = int(done.stderr.strip().rsplit("wrote ", 1)[1])
    assert written > 10
    assert done.stdout.splitlines() == [f"line {n}" for n in range(written)]
    assert done.stderr.strip() == f"wrote {written}"

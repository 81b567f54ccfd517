"""Real model-server processes (the tiny GGUF under the hub's model-server mode)."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from neurocache.llm.client import OpenAIClient
from neurocache.llm.processes import self_command
from neurocache.llm.supervisor import ModelProcess
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import alive, wait_for


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny.gguf")


def model_server_command(model, *extra):
    return lambda port: [
        *self_command(),
        "model-server",
        "--model",
        str(model),
        "--port",
        str(port),
        "--n-ctx",
        "256",
        "--parent-pid",
        str(os.getpid()),
        *extra,
    ]


@pytest.fixture
def supervised(tiny_model, tmp_path):
    states = []
    process = ModelProcess(
        "tiny",
        model_server_command(tiny_model),
        log_path=tmp_path / "m.log",
        on_change=lambda p: states.append(p.state),
        health_interval_s=0.2,
        start_timeout_s=30,
    )
    process.states = states
    yield process
    process.stop()


def test_starts_serves_and_stops(supervised):
    supervised.start()
    assert wait_for(lambda: supervised.state == "running")
    reply = OpenAIClient(supervised.base_url).chat(
        [{"role": "user", "content": "hi"}], max_tokens=4, temperature=0
    )
    assert reply["choices"][0]["message"]["content"]
    pid = supervised.pid
    supervised.stop()
    assert supervised.state == "stopped" and not alive(pid)
    assert supervised.states[:3] == ["starting", "starting", "running"]
    assert any("load_tensors" in line for line in supervised.logs(2000))
    assert supervised.status().placement.layers == 3
    assert supervised.log_path.read_text()


def test_a_killed_server_is_restarted(supervised):
    supervised.start()
    assert wait_for(lambda: supervised.state == "running")
    first_pid = supervised.pid
    os.kill(first_pid, signal.SIGKILL)
    assert wait_for(lambda: supervised.state == "restarting")
    assert "exited with code -9" in supervised.error
    assert wait_for(lambda: supervised.state == "running" and supervised.pid != first_pid)
    assert supervised.restarts == 1
    OpenAIClient(supervised.base_url).models()


def test_repeated_crashes_end_in_failed_with_the_reason(tmp_path):
    crash = [sys.executable, "-c", "import sys; print('boom: no such model'); sys.exit(3)"]
    process = ModelProcess(
        "bad", lambda port: crash, log_path=tmp_path / "bad.log", max_restarts=2, start_timeout_s=5
    )
    waits = []
    process._stopping.wait = lambda s: waits.append(s) or False  # no real backoff waits
    process.start()
    assert wait_for(lambda: process.state == "failed", 20)
    assert "exited with code 3 while starting: boom: no such model" in process.error
    assert "gave up after 3 crashes" in process.error
    # the first restart at once, then a backoff: 3 tries, one wait between the 2nd and 3rd
    assert [w for w in waits if w >= 1] == [1]


def test_a_server_that_never_gets_ready_times_out(tmp_path):
    sleeper = [sys.executable, "-c", "import time; print('loading...', flush=True); time.sleep(60)"]
    process = ModelProcess(
        "slow",
        lambda port: sleeper,
        log_path=tmp_path / "slow.log",
        max_restarts=0,
        start_timeout_s=1,
    )
    process.start()
    assert wait_for(lambda: process.state == "failed", 20)
    assert "not ready after 1 s: loading..." in process.error
    process.stop()


def test_stop_kills_the_whole_process_group(tmp_path):
    """A server that ignores SIGTERM and has a child of its own leaves nothing behind."""
    script = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print('child', c.pid, flush=True); time.sleep(60)"
    )
    process = ModelProcess(
        "stubborn",
        lambda port: [sys.executable, "-c", script],
        log_path=tmp_path / "s.log",
        start_timeout_s=30,
    )
    process.start()
    assert wait_for(lambda: any(line.startswith("child") for line in process.logs()))
    parent_pid = process.pid
    child_pid = int(next(line for line in process.logs() if line.startswith("child")).split()[1])
    process.stop()
    assert wait_for(lambda: not alive(parent_pid) and not alive(child_pid), 15)


def test_layer_placement_can_be_read_while_it_is_fed():
    import threading

    from neurocache.llm.gpu import LayerPlacement

    placement = LayerPlacement()
    errors = []

    def feed() -> None:
        for i in range(20000):
            placement.feed(f"load_tensors: layer {i:3d} assigned to device CPU, is_swa = 0")

    def read() -> None:
        try:
            for _ in range(2000):
                placement.summary()
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=feed), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and placement.summary().layers == 20000


def test_a_chatty_server_log_is_rotated_while_it_runs(tmp_path, monkeypatch):
    from neurocache.llm import supervisor as module

    monkeypatch.setattr(module, "LOG_FILE_MAX_BYTES", 20_000)
    chatty = [
        sys.executable,
        "-c",
        "import time\nfor i in range(3000): print('line', i, 'x' * 40, flush=True)\ntime.sleep(60)",
    ]
    process = ModelProcess(
        "chatty", lambda port: chatty, log_path=tmp_path / "c.log", start_timeout_s=30
    )
    process.start()
    assert wait_for(lambda: (tmp_path / "c.log.1").exists(), 20)
    assert wait_for(lambda: any("line 2999" in line for line in process.logs(10)), 20)
    process.stop()
    assert (tmp_path / "c.log").stat().st_size <= 20_000 + 200

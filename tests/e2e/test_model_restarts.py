"""A model server's faults, with real model-server processes (the tiny GGUF): a killed
server is noticed at once and restarted while requests wait for it; a model that was
running runs again after the hub restarts; a file that cannot load fails at once, with
its cause, and never costs the model that was working."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.tiny_gguf import write_tiny_llama, write_unknown_architecture
from tests.support.waiting import alive, wait_for

ACTOR = Actor("test")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny.gguf", n_ctx=1024)


@pytest.fixture
def hub(tmp_path):
    # The health check is slow on purpose: a death must be noticed without it.
    hub = Hub(Settings(data_dir=tmp_path / "data", model_health_interval_s=30))
    hub.start_background_work()
    yield hub
    hub.close()


def running(hub: Hub, path: Path) -> str:
    model_id = hub.models.register_local(str(path), ACTOR).id
    hub.models.start(model_id, ACTOR)
    assert wait_for(lambda: hub.models.get(model_id).state == "running", 60)
    return model_id


def ask(hub: Hub) -> str:
    backend = hub.models.chat_backend()
    reply = backend.client.chat(
        [{"role": "user", "content": "hi"}], max_tokens=2, model=backend.served_name
    )
    return reply["choices"][0]["message"]["content"]


def test_a_killed_server_is_noticed_at_once_and_requests_wait_for_the_restart(hub, tiny_model):
    model_id = running(hub, tiny_model)
    pid = hub.models.get(model_id).server.pid
    failures, answered, stop = [], [], threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            try:
                answered.append(ask(hub))
            except Exception as exc:
                failures.append(repr(exc))

    askers = [threading.Thread(target=keep_asking) for _ in range(3)]
    for asker in askers:
        asker.start()
    time.sleep(0.5)
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    # noticed at once (the health check would take 30 s): never `running` meanwhile
    assert wait_for(lambda: hub.models.get(model_id).state == "restarting", 2)
    noticed_s = time.monotonic() - killed_at
    assert wait_for(lambda: hub.models.get(model_id).state == "running", 30)
    restarted_s = time.monotonic() - killed_at
    time.sleep(0.5)
    stop.set()
    for asker in askers:
        asker.join(30)
    assert failures == []
    assert len(answered) > 10
    assert noticed_s < 1.0, noticed_s
    assert hub.models.get(model_id).server.pid != pid
    print(
        f"noticed after {noticed_s * 1000:.0f} ms, running again after {restarted_s:.2f} s, "
        f"{len(answered)} answers, 0 failed"
    )


def test_a_model_running_when_the_hub_stopped_runs_when_it_starts_again(tmp_path, tiny_model):
    settings = Settings(data_dir=tmp_path / "data")
    first = Hub(settings)
    first.start_background_work()
    model_id = running(first, tiny_model)
    stopped_by_hand = first.models.register_local(str(tiny_model), ACTOR, name="other").id
    first.close()

    second = Hub(settings)
    second.start_background_work()
    try:
        assert wait_for(lambda: second.models.get(model_id).state == "running", 60)
        assert second.models.get(stopped_by_hand).state == "installed"
        second.models.stop(model_id, ACTOR)  # asked to stop: it stays stopped
    finally:
        second.close()
    third = Hub(settings)
    third.start_background_work()
    try:
        time.sleep(1)
        assert third.models.get(model_id).state == "installed"
    finally:
        third.close()


def test_a_broken_file_fails_at_once_with_its_cause_and_the_working_model_stays(
    hub, tiny_model, tmp_path
):
    working = running(hub, tiny_model)
    working_pid = hub.models.get(working).server.pid
    broken = hub.models.register_local(
        str(write_unknown_architecture(tmp_path / "frobnitz.gguf")), ACTOR
    ).id
    hub.models.start(broken, ACTOR)
    assert wait_for(lambda: hub.models.get(broken).state == "failed", 60)
    failed = hub.models.get(broken)
    assert "unknown model architecture: 'frobnitz'" in failed.error
    assert "Failed to load model" not in failed.error
    assert failed.server.restarts == 0  # trying again cannot help: not retried
    assert hub.models.get(working).state == "running"
    assert alive(working_pid) and ask(hub)


def test_a_new_chat_model_takes_over_only_once_it_answers(hub, tiny_model, tmp_path):
    first = running(hub, tiny_model)
    copy = write_tiny_llama(tmp_path / "second.gguf", n_ctx=1024, seed=1)
    second = hub.models.register_local(str(copy), ACTOR).id
    hub.models.start(second, ACTOR)
    assert hub.models.get(first).state == "running"  # still answering meanwhile
    assert wait_for(lambda: hub.models.get(second).state == "running", 60)
    assert wait_for(lambda: hub.models.get(first).state == "installed", 30)
    assert hub.models.chat_backend().model_id == second

"""The chat tests' model (the tiny random-weight GGUF of the `tiny_chat_model` fixture, in
conftest.py) started under a hub's supervisor, and the settings and text they share."""

from __future__ import annotations

from pathlib import Path

from neurocache.hub import Hub
from neurocache.store.audit import Actor
from tests.support.waiting import wait_for

RIVERS = (
    "The Rhine flows through Basel and into the North Sea. Salmon return to the "
    "rivers of Europe each autumn, swimming upstream to spawn."
)
CHAT_SETTINGS = {
    "chat_max_reply_tokens": 24,
    "chat_temperature": 0.0,
    "model_health_interval_s": 0.2,
}


def start_model(hub: Hub, path: Path) -> str:
    model_id = hub.models.register_local(str(path), Actor("test")).id
    hub.models.start(model_id)
    assert wait_for(lambda: hub.models.get(model_id).state == "running", timeout=60)
    return model_id

"""The hub's event dispatcher (events.py): services publish what happened, subscribers
follow; Socket.IO gets only the events that name a room."""

from __future__ import annotations

import logging

from neurocache.events import EVERY, Event, Events
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor

ACTOR = Actor("test")


def test_handlers_get_their_events_in_order_and_every_event_with_a_star():
    events, seen = Events(), []
    events.subscribe("a", lambda e: seen.append(("first", e.name)))
    events.subscribe(EVERY, lambda e: seen.append(("every", e.name)))
    events.subscribe("a", lambda e: seen.append(("second", e.name)))
    events.publish("a", {"x": 1}, "room:1")
    events.publish("b", {}, None)
    assert seen == [("first", "a"), ("second", "a"), ("every", "a"), ("every", "b")]


def test_a_failing_handler_is_logged_and_the_others_still_run(caplog):
    events, seen = Events(), []

    def broken(_event: Event) -> None:
        raise RuntimeError("boom")

    events.subscribe("a", broken)
    events.subscribe("a", seen.append)
    with caplog.at_level(logging.ERROR, logger="neurocache.events"):
        events.publish("a", {"n": 1})
    assert [e.payload for e in seen] == [{"n": 1}]
    assert "a handler of a failed" in caplog.text


def test_unsubscribing_stops_the_events():
    events, seen = Events(), []
    unsubscribe = events.subscribe("a", seen.append)
    events.publish("a", {})
    unsubscribe()
    unsubscribe()  # twice: nothing to undo
    events.publish("a", {})
    assert len(seen) == 1


def test_clients_get_the_events_with_a_room_and_the_hub_keeps_its_own(tmp_path):
    to_clients: list[tuple] = []
    hub = Hub(Settings(data_dir=tmp_path), publish=lambda *event: to_clients.append(event))
    own: list[Event] = []
    hub.events.subscribe(EVERY, own.append)
    try:
        key, _secret = hub.keys.create("k", ["read"], ACTOR)
        hub.keys.revoke(key["id"], ACTOR)
        hub.publish("job.progress", {"id": "j"}, "jobs")
    finally:
        hub.close()
    assert ("key.revoked", {"key_id": key["id"]}) in [(e.name, e.payload) for e in own]
    assert to_clients == [("job.progress", {"id": "j"}, "jobs")]  # not key.revoked


def test_removing_a_member_is_published(tmp_path):
    hub = Hub(Settings(data_dir=tmp_path))
    seen: list[Event] = []
    hub.events.subscribe("channel.member.removed", seen.append)
    try:
        user = hub.users.create("ada", ACTOR)
        channel = hub.channels.create(ACTOR, "owner", name="general")
        hub.channels.add_member(channel["id"], f"user:{user['id']}", ACTOR)
        hub.channels.remove_member(channel["id"], f"user:{user['id']}", ACTOR)
    finally:
        hub.close()
    assert [e.payload for e in seen] == [
        {"channel_id": channel["id"], "member": f"user:{user['id']}"}
    ]

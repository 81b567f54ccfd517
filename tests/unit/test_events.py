"""The hub's event dispatcher (events.py): services publish what happened, subscribers
follow."""

from __future__ import annotations

import logging

from neurocache.events import EVERY, Event, Events


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

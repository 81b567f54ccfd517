"""Socket.IO with the real python-socketio client against a real hub on loopback."""

from __future__ import annotations

import queue
import threading

import pytest
import requests
import socketio

from tests.support.hub import bearer, make_key


def connect(url: str, token: str | None = None, **kwargs) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.received = queue.Queue()  # type: ignore[attr-defined]
    for event in ("event", "job.progress", "model.status", "connect_error"):
        client.on(event, lambda data, event=event: client.received.put((event, data)))
    client.connect(
        url,
        auth={"token": token} if token else None,
        transports=["websocket"],
        wait_timeout=5,
        **kwargs,
    )
    return client


@pytest.mark.parametrize("token", [None, "nc_not-a-key", "nco_not-the-token", 42])
def test_connection_is_refused_without_a_valid_token_or_key(live_hub, token):
    client = socketio.Client(reconnection=False)
    errors = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            live_hub.url,
            auth={"token": token} if token else None,
            transports=["websocket"],
            wait_timeout=5,
        )
    assert errors and errors[0]["data"]["error"]["code"] == "unauthorized"


def test_connection_from_a_foreign_origin_is_refused(live_hub):
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(live_hub.url, live_hub.key("read"), headers={"Origin": "https://evil.example"})


def test_owner_connects_with_the_login_token_or_cookie(live_hub):
    token = live_hub.hub.owner_token.value
    connect(live_hub.url, token).disconnect()
    connect(live_hub.url, headers={"Cookie": f"nc_session={token}"}).disconnect()


def test_join_is_acknowledged_and_bad_rooms_are_refused(live_hub):
    client = connect(live_hub.url, live_hub.key("read"))
    try:
        assert client.call("join", {"room": "jobs"}, timeout=5) == {"ok": True}
        refused = client.call("join", {"room": "conversation:abc-1"}, timeout=5)
        assert refused["ok"] is False and refused["error"]["status"] == 403  # needs `chat`
        for bad in ({"room": "secret-room"}, {"room": 5}, "jobs", None):
            answer = client.call("join", bad, timeout=5)
            assert answer["ok"] is False
            assert set(answer["error"]) == {"code", "message", "status", "details"}
            assert answer["error"]["status"] == 422
        assert client.call("leave", {"room": "jobs"}, timeout=5) == {"ok": True}
    finally:
        client.disconnect()
    chat = connect(live_hub.url, live_hub.key("chat"))
    try:
        assert chat.call("join", {"room": "conversation:abc-1"}, timeout=5) == {"ok": True}
    finally:
        chat.disconnect()


def test_events_published_by_services_reach_only_the_room(live_hub):
    inside = connect(live_hub.url, live_hub.key("read"))
    outside = connect(live_hub.url, live_hub.key("read"))
    try:
        inside.call("join", {"room": "jobs"}, timeout=5)
        outside.call("join", {"room": "models"}, timeout=5)
        live_hub.hub.publish("job.progress", {"id": "j1", "progress": 0.5}, "jobs")
        assert inside.received.get(timeout=5) == ("job.progress", {"id": "j1", "progress": 0.5})
        live_hub.hub.publish("model.status", {"id": "m"}, "models")
        assert outside.received.get(timeout=5) == ("model.status", {"id": "m"})
        assert inside.received.empty()
    finally:
        inside.disconnect()
        outside.disconnect()


def test_plugin_pubsub_delivers_to_subscribers_and_stores_nothing(live_hub):
    subscriber = connect(live_hub.url, live_hub.key("read"))
    publisher = connect(live_hub.url, live_hub.key("write"))
    bystander = connect(live_hub.url, live_hub.key("read"))
    try:
        assert subscriber.call("subscribe", {"channels": ["clips", "notes"]}, timeout=5)["ok"]
        bystander.call("subscribe", {"channels": ["other"]}, timeout=5)
        ack = publisher.call(
            "publish",
            {"channel": "clips", "content": {"url": "x"}, "metadata": {"n": 1}},
            timeout=5,
        )
        assert ack == {"ok": True}
        event, payload = subscriber.received.get(timeout=5)
        assert event == "event"
        assert payload["channel"] == "clips" and payload["content"] == {"url": "x"}
        assert payload["metadata"] == {"n": 1} and payload["sender"].startswith("key:")
        assert bystander.received.empty()
        assert live_hub.hub.db.memory_count() == 0
    finally:
        for client in (subscriber, publisher, bystander):
            client.disconnect()


def test_publish_needs_write_scope_and_a_valid_message(live_hub):
    reader = connect(live_hub.url, live_hub.key("read"))
    try:
        denied = reader.call("publish", {"channel": "c", "content": "x"}, timeout=5)
        assert denied["ok"] is False and denied["error"]["status"] == 403
        writer = connect(live_hub.url, live_hub.key("write"))
        for bad in ({"content": "x"}, {"channel": "bad channel!", "content": 1}, {"channel": "c"}):
            assert writer.call("publish", bad, timeout=5)["error"]["status"] == 422
        assert writer.call("subscribe", {"channels": "c"}, timeout=5)["error"]["status"] == 422
        writer.disconnect()
    finally:
        reader.disconnect()


def test_stopping_the_hub_disconnects_clients(tmp_path):
    from neurocache.settings import Settings
    from tests.support.hub import start_live_hub

    live = start_live_hub(Settings(data_dir=tmp_path))
    client = connect(live.url, live.key("read"))
    gone = threading.Event()
    client.on("disconnect", lambda *args: gone.set())
    live.server.stop()
    assert gone.wait(5), "the client was not told the hub stopped"


def test_flask_socketio_test_client_for_quick_checks(app, client, hub):
    socketio_ext = app.extensions["socketio"]
    refused = socketio_ext.test_client(app, flask_test_client=client)
    assert not refused.is_connected()
    ok = socketio_ext.test_client(
        app, flask_test_client=client, auth={"token": make_key(hub, "read")}
    )
    assert ok.is_connected()
    assert ok.emit("join", {"room": "models"}, callback=True) == {"ok": True}
    hub.publish("model.status", {"state": "running"}, "models")
    assert ok.get_received()[-1]["name"] == "model.status"


def test_revoking_a_key_closes_its_sockets_at_once(live_hub):
    from neurocache.store.audit import Actor

    view, secret = live_hub.hub.keys.create("short-lived", ["read", "write"], Actor("test"))
    client = connect(live_hub.url, secret)
    gone = threading.Event()
    client.on("disconnect", lambda *args: gone.set())
    response = requests.delete(
        f"{live_hub.url}/api/v1/keys/{view.id}", timeout=5, headers=bearer(live_hub.key("admin"))
    )
    assert response.status_code == 200
    assert gone.wait(5), "the revoked key's socket stayed open"


def test_a_key_revoked_by_another_process_is_refused_at_the_next_message(live_hub):
    from neurocache.access.keys import ApiKeys
    from neurocache.store.audit import Actor

    view, secret = live_hub.hub.keys.create("cli-revoked", ["read", "write"], Actor("test"))
    client = connect(live_hub.url, secret)
    gone = threading.Event()
    client.on("disconnect", lambda *args: gone.set())
    ApiKeys(live_hub.hub.db).revoke(view.id, Actor("cli"))  # as `neurocache keys revoke`
    client.emit("publish", {"channel": "c", "content": 1})
    assert gone.wait(5), "a socket of a revoked key stayed open"


def test_subscribing_needs_the_read_scope(live_hub):
    chat_only = connect(live_hub.url, live_hub.key("chat"))
    try:
        answer = chat_only.call("subscribe", {"channels": ["c"]}, timeout=5)
        assert answer["ok"] is False and answer["error"]["status"] == 403
    finally:
        chat_only.disconnect()


def test_the_session_cookie_does_not_work_from_another_origin(live_hub):
    token = live_hub.hub.owner_token.value
    with pytest.raises(socketio.exceptions.ConnectionError):
        connect(
            live_hub.url,
            headers={"Cookie": f"nc_session={token}", "Origin": "chrome-extension://someone-else"},
        )

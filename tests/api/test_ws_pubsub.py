"""`/ws`, pub/sub over a plain WebSocket: a `websocket-client` socket and a python-socketio
client against a real hub on loopback, seeing each other's messages."""

from __future__ import annotations

import json
import queue
import shutil
import time

import pytest
import requests
import socketio
import websocket

from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.web.pubsub_sockets import OUTBOX_LIMIT, Close, WsConnection
from neurocache.web.pubsub_ws import EXTENSION
from tests.support.hub import LiveHub, assert_error, bearer, start_live_hub


def ws_url(live: LiveHub, query: str = "") -> str:
    return live.url.replace("http://", "ws://", 1) + "/ws" + query


def open_ws(
    live: LiveHub, query: str = "", key: str | None = None, **options
) -> websocket.WebSocket:
    header = [f"Authorization: Bearer {key}"] if key else []
    return websocket.create_connection(ws_url(live, query), header=header, timeout=5, **options)


def refused(live: LiveHub, query: str = "", key: str | None = None, **options):
    with pytest.raises(websocket.WebSocketBadStatusException) as caught:
        open_ws(live, query, key, **options)
    return caught.value.status_code, json.loads(caught.value.resp_body)


def frame(ws: websocket.WebSocket) -> dict:
    return json.loads(ws.recv())


def command(ws: websocket.WebSocket, method: str, **params) -> dict:
    ws.send(json.dumps({"method": method, "params": params}))
    return frame(ws)


def nothing_more(ws: websocket.WebSocket, wait_s: float = 0.3) -> bool:
    ws.settimeout(wait_s)
    try:
        ws.recv()
    except websocket.WebSocketTimeoutException:
        return True
    finally:
        ws.settimeout(5)
    return False


def sio_client(live: LiveHub, key: str) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    client.received = queue.Queue()  # type: ignore[attr-defined]
    client.on("event", client.received.put)
    client.connect(live.url, auth={"token": key}, transports=["websocket"], wait_timeout=5)
    return client


def test_a_ws_subscriber_sees_a_socketio_publish(live_hub):
    ws = open_ws(live_hub, "?c=clips&c=notes", live_hub.key("read"))
    publisher = sio_client(live_hub, live_hub.key("write"))
    listener = sio_client(live_hub, live_hub.key("read"))
    try:
        assert listener.call("subscribe", {"channels": ["clips"]}, timeout=5) == {"ok": True}
        sent = {"channel": "clips", "content": {"url": "x"}, "metadata": {"n": 1}}
        assert publisher.call("publish", sent, timeout=5) == {"ok": True}
        message = frame(ws)
        assert message == listener.received.get(timeout=5)  # the same message, both kinds
        assert message["channel"] == "clips" and message["content"] == {"url": "x"}
        assert message["metadata"] == {"n": 1} and message["sender"].startswith("key:")
        publisher.call("publish", {"channel": "other", "content": 1}, timeout=5)
        assert nothing_more(ws)
        assert live_hub.hub.db.memory_count() == 0  # ephemeral
    finally:
        ws.close()
        publisher.disconnect()
        listener.disconnect()


def test_a_socketio_subscriber_sees_a_ws_pub(live_hub):
    listener = sio_client(live_hub, live_hub.key("read"))
    publisher = open_ws(live_hub, key=live_hub.key("write", "read"))
    subscriber = open_ws(live_hub, "?c=clips", live_hub.key("read"))
    try:
        listener.call("subscribe", {"channels": ["clips"]}, timeout=5)
        publisher.send(
            json.dumps(
                {"id": "m1", "method": "pub", "params": {"channel": "clips", "content": "hello"}}
            )
        )
        assert frame(publisher) == {"ok": True, "id": "m1", "method": "pub"}
        message = listener.received.get(timeout=5)
        assert message == {
            "channel": "clips",
            "content": "hello",
            "metadata": {},
            "sender": message["sender"],
        }
        assert frame(subscriber) == message
        assert nothing_more(publisher)  # not subscribed: its own message is not echoed
    finally:
        listener.disconnect()
        publisher.close()
        subscriber.close()


def test_sub_and_unsub_with_the_key_as_a_query_parameter(live_hub):
    ws = open_ws(live_hub, f"?token={live_hub.key('read', 'write')}")
    try:
        ws.send(json.dumps({"id": 7, "method": "sub", "params": {"channels": ["a", "b"]}}))
        assert frame(ws) == {"ok": True, "id": 7, "method": "sub", "channels": ["a", "b"]}
        # subscribed to what it publishes: it gets it, delivered before the answer is sent
        assert command(ws, "pub", channel="a", content=1)["content"] == 1
        assert frame(ws) == {"ok": True, "method": "pub"}
        assert command(ws, "unsub", channels=["a"]) == {
            "ok": True,
            "method": "unsub",
            "channels": ["b"],
        }
        assert command(ws, "pub", channel="a", content=2) == {"ok": True, "method": "pub"}
        assert nothing_more(ws)
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("query", "key"), [("", None), ("", "nc_not-a-key"), ("?token=nc_nope", None)]
)
def test_no_valid_key_is_refused_before_the_upgrade(live_hub, query, key):
    status, body = refused(live_hub, query, key)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert "token" in body["error"]["message"]


def test_a_plain_get_is_told_to_use_a_websocket(live_hub):
    response = live_hub.get("/ws", headers=bearer(live_hub.key("read")))
    assert "WebSocket" in assert_error(response, 400, "bad_request")["message"]
    assert_error(live_hub.get("/ws"), 401, "unauthorized")


def test_a_read_only_key_subscribes_but_may_not_publish(live_hub):
    ws = open_ws(live_hub, "?c=news", live_hub.key("read"))
    try:
        answer = command(ws, "pub", channel="news", content="x")
        assert answer["ok"] is False and answer["method"] == "pub"
        assert answer["error"]["code"] == "forbidden" and answer["error"]["status"] == 403
        assert command(ws, "sub", channels=["more"])["channels"] == ["more", "news"]  # still open
    finally:
        ws.close()
    status, body = refused(live_hub, "?c=news", live_hub.key("chat"))  # no `read`
    assert status == 403 and body["error"]["details"]["required_scope"] == "read"


def test_bad_frames_get_error_frames_and_the_socket_stays_open(live_hub):
    ws = open_ws(live_hub, key=live_hub.key("read", "write"))
    bad = [
        ("{not json", "invalid_json"),
        ('{"method": "pub", "params": {"channel": "c", "content": NaN}}', "invalid_json"),
        ("[1, 2]", "validation_error"),
        ('{"method": "nope"}', "validation_error"),
        ('{"method": 5}', "validation_error"),
        ('{"method": "sub"}', "validation_error"),
        ('{"method": "sub", "params": {"channels": "c"}}', "validation_error"),
        ('{"method": "sub", "params": {"channels": ["bad name!"]}}', "validation_error"),
        ('{"method": "pub", "params": {"content": 1}}', "validation_error"),
        ('{"method": "pub", "params": {"channel": "c"}}', "validation_error"),
        ('{"method": "pub", "params": {"channel": "c", "content": 1, "metadata": 3}}', None),
        ("[" * 100_000 + "]" * 100_000, "invalid_json"),
    ]
    try:
        for text, code in bad:
            ws.send(text)
            answer = frame(ws)
            assert answer["ok"] is False, text
            assert set(answer["error"]) == {"code", "message", "status", "details"}
            assert answer["error"]["code"] == (code or "validation_error"), text
        ws.send_binary(b'{"method": "sub", "params": {"channels": ["c"]}}')
        assert frame(ws)["error"]["code"] == "unsupported_media_type"
        too_many = [f"c{i}" for i in range(101)]
        assert command(ws, "sub", channels=too_many)["error"]["details"]["limit"] == 100
        assert command(ws, "sub", channels=["c"]) == {
            "ok": True,
            "method": "sub",
            "channels": ["c"],
        }
    finally:
        ws.close()


def test_a_command_that_fails_inside_the_hub_is_answered_and_the_socket_stays_open(
    live_hub, monkeypatch
):
    ws = open_ws(live_hub, key=live_hub.key("read"))
    failures = iter([RuntimeError("the store went away")])

    def is_live(key_id: str) -> bool:
        for failure in failures:
            raise failure
        return True

    monkeypatch.setattr(live_hub.hub.keys, "is_live", is_live)
    try:
        answer = command(ws, "sub", channels=["c"])
        assert answer["error"]["code"] == "internal_error" and "Traceback" not in str(answer)
        assert command(ws, "sub", channels=["c"])["channels"] == ["c"]
    finally:
        ws.close()


def test_frames_over_the_size_limit(tmp_path):
    live = start_live_hub(Settings(data_dir=tmp_path / "small", max_request_bytes=2048))
    try:
        ws = open_ws(live, key=live.key("read", "write"))
        big = json.dumps({"method": "pub", "params": {"channel": "c", "content": "x" * 3000}})
        ws.send(big)
        assert frame(ws)["error"]["code"] == "payload_too_large"
        assert command(ws, "sub", channels=["c"])["ok"]  # still open
        ws.send("x" * 5000)  # over twice the limit: not read at all
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(data[:2], "big") == 1009  # message too big
    finally:
        live.server.stop()


def test_a_foreign_origin_or_host_is_refused(live_hub):
    key = live_hub.key("read")
    status, body = refused(live_hub, key=key, origin="https://evil.example")
    assert status == 403 and body["error"]["code"] == "forbidden_origin"
    status, body = refused(live_hub, key=key, host=f"evil.example:{live_hub.server.port}")
    assert status == 403 and body["error"]["code"] == "forbidden_host"
    open_ws(live_hub, key=key, origin="chrome-extension://abcdef").close()  # allowed, with a key


def test_the_hubs_own_page_connects_with_its_session_cookie(live_hub):
    cookie = f"nc_session={live_hub.hub.owner_token.value}"
    ws = open_ws(live_hub, "?c=page", cookie=cookie)  # websocket-client sends our Origin
    try:
        assert command(ws, "pub", channel="page", content=1)["sender"] == "owner"
        assert frame(ws)["ok"]
    finally:
        ws.close()
    status, _ = refused(live_hub, cookie=cookie, origin="chrome-extension://abcdef")
    assert status == 401  # another origin never rides on the cookie


def test_revoking_a_key_closes_its_ws_at_once(live_hub):
    view, secret = live_hub.hub.keys.create("short-lived", ["read"], Actor("test"))
    ws = open_ws(live_hub, key=secret)
    response = requests.delete(
        f"{live_hub.url}/api/v1/keys/{view.id}", timeout=5, headers=bearer(live_hub.key("admin"))
    )
    assert response.status_code == 200
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1008


def test_a_key_revoked_by_another_process_is_refused_at_its_next_command(live_hub):
    from neurocache.access.keys import ApiKeys

    view, secret = live_hub.hub.keys.create("cli-revoked", ["read"], Actor("test"))
    ws = open_ws(live_hub, key=secret)
    ApiKeys(live_hub.hub.db).revoke(view.id, Actor("cli"))  # as `neurocache keys revoke`
    assert command(ws, "sub", channels=["c"])["error"]["code"] == "unauthorized"
    opcode, _ = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE


def test_a_closed_socket_leaves_no_subscription(live_hub):
    subscribers = live_hub.app.extensions[EXTENSION]
    ws = open_ws(live_hub, "?c=gone", live_hub.key("read"))
    assert len(subscribers) == 1
    ws.close()
    deadline = time.monotonic() + 5
    while len(subscribers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(subscribers) == 0
    live_hub.hub.publish("unrelated", {}, None)  # and delivering to nobody is fine
    subscribers.deliver("gone", {"channel": "gone"})


def test_stopping_the_hub_closes_its_ws(tmp_path):
    live = start_live_hub(Settings(data_dir=tmp_path / "live"))
    ws = open_ws(live, key=live.key("read"))
    live.server.stop()
    opcode, data = ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1001


def test_the_handshake_is_rate_limited_and_counted_once(tmp_path):
    live = start_live_hub(Settings(data_dir=tmp_path / "live", rate_limit_per_minute=2))
    try:
        key = live.key("read")
        first = open_ws(live, key=key)
        time.sleep(0.5)  # a long-lived socket: its life is not a request's latency
        first.close()
        open_ws(live, key=key).close()
        status, body = refused(live, key=key)
        assert status == 429 and body["error"]["code"] == "rate_limited"
        usage = requests.get(
            f"{live.url}/api/v1/usage",
            params={"bucket": "minute", "group_by": "endpoint"},
            headers=bearer(live.key("admin")),
            timeout=5,
        ).json()
        (ws_series,) = [s for s in usage["series"] if s["group"]["endpoint"] == "GET /ws"]
        assert ws_series["totals"]["requests"] == 3 and ws_series["totals"]["errors"] == 1
        assert ws_series["totals"]["latency_ms_avg"] < 400
    finally:
        live.server.stop()


def test_a_client_that_stops_reading_is_let_go():
    class Recorder:
        def __init__(self) -> None:
            self.sent: list = []

        def send(self, text: str) -> None:
            self.sent.append(text)

        def close(self, code: int, reason: str) -> None:
            self.sent.append(Close(code, reason))

    connection = WsConnection(principal=None)  # type: ignore[arg-type]
    for n in range(OUTBOX_LIMIT + 5):
        connection.send({"n": n})
    recorder = Recorder()
    connection.write_to(recorder)  # type: ignore[arg-type]
    assert recorder.sent == [Close(1013, "too many frames unread")]


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_two_hub_processes_share_every_message_through_redis(tmp_path):
    """Team mode: a message published on one hub reaches both kinds of subscriber on the
    other (through Socket.IO's Redis queue, the one `redis_url` sets up)."""
    from neurocache.cluster.services import Redis, free_port

    redis = Redis("redis", free_port(), folder=tmp_path / "redis").start()
    first = start_live_hub(Settings(data_dir=tmp_path / "a", redis_url=redis.url))
    second = start_live_hub(Settings(data_dir=tmp_path / "b", redis_url=redis.url))
    try:
        ws = open_ws(first, "?c=team", first.key("read"))  # no Socket.IO client on `first`
        listening(redis.url)  # its queue's listener started with this socket
        publisher = open_ws(second, key=second.key("write"))
        assert command(publisher, "pub", channel="team", content="over ws")["ok"]
        assert frame(ws)["content"] == "over ws"
        listener = sio_client(first, first.key("read"))
        listener.call("subscribe", {"channels": ["team"]}, timeout=5)
        sio_publisher = sio_client(second, second.key("write"))
        sio_publisher.call("publish", {"channel": "team", "content": "over sio"}, timeout=5)
        assert frame(ws)["content"] == "over sio"
        assert listener.received.get(timeout=5)["content"] == "over sio"
        assert nothing_more(ws)  # each message once
        for client in (listener, sio_publisher):
            client.disconnect()
    finally:
        for live in (first, second):
            live.server.stop()
        redis.stop()


def listening(url: str, timeout_s: float = 5.0) -> None:
    import redis

    connection = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if dict(connection.pubsub_numsub("neurocache-socketio")).get(b"neurocache-socketio"):
            return
        time.sleep(0.05)
    raise AssertionError("no hub listens to the Socket.IO queue")

"""Several real python-socketio clients in one channel of a real hub: fan-out in order,
typing, presence, a reconnect that catches up by cursor, a forbidden room refused."""

from __future__ import annotations

import pytest
import requests

from tests.support.hub import bearer
from tests.support.sockets import Member


@pytest.fixture
def team(live_hub):
    """A channel with the owner, Ada and Bob (each with their own key), and Carol outside."""
    owner = bearer(live_hub.hub.owner_token.value)

    def post(path, body):
        response = live_hub.post(path, json=body, headers=owner)
        assert response.status_code == 201, response.text
        return response.json()

    people = {}
    for name in ("ada", "bob", "carol"):
        user = post("/api/v1/users", {"name": name, "display_name": name.title()})
        key = post(
            f"/api/v1/users/{user['id']}/keys", {"name": name, "scopes": ["read", "write", "chat"]}
        )
        people[name] = (user, key["secret"])
    channel = post("/api/v1/channels", {"name": "crew"})
    for name in ("ada", "bob"):
        post(f"/api/v1/channels/{channel['id']}/members", {"user_id": name})
    sockets = []

    def connect(name):
        token = live_hub.hub.owner_token.value if name == "owner" else people[name][1]
        sockets.append(Member(live_hub.url, token))
        return sockets[-1]

    yield {
        "channel": channel,
        "room": channel["room"],
        "people": people,
        "connect": connect,
        "url": live_hub.url,
    }
    for member in sockets:
        member.close()


def say(team, name, content, **extra) -> dict:
    response = requests.post(
        f"{team['url']}/api/v1/channels/{team['channel']['id']}/messages",
        json={"content": content, **extra},
        headers=bearer(team["people"][name][1]),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["message"]


def test_every_member_gets_every_message_in_order(team):
    members = [team["connect"](n) for n in ("owner", "ada", "bob")]
    for member in members:
        assert member.join(team["room"]) == {"ok": True}
    sent = [say(team, "ada" if i % 2 else "bob", f"line {i}") for i in range(20)]
    for member in members:
        got = [member.next("message.created") for _ in sent]
        assert [m["id"] for m in got] == [m["id"] for m in sent]
        assert [m["seq"] for m in got] == sorted(m["seq"] for m in got)
    assert {m["author_name"] for m in sent} == {"Ada", "Bob"}


def test_a_non_member_cannot_join_and_hears_nothing(team):
    carol = team["connect"]("carol")
    refused = carol.join(team["room"])
    assert refused["ok"] is False and refused["error"]["status"] == 403
    assert carol.join("channel:does-not-exist")["ok"] is False
    say(team, "ada", "secret plans")
    assert [e for e, _ in carol.drain() if e.startswith("message.")] == []


def test_typing_reaches_the_others_not_the_typist(team):
    ada, bob = team["connect"]("ada"), team["connect"]("bob")
    ada.join(team["room"]), bob.join(team["room"])
    assert ada.socket.call("typing", {"room": team["room"], "typing": True}, timeout=5) == {
        "ok": True
    }
    typing = bob.next("typing")
    assert typing == {
        "channel_id": team["channel"]["id"],
        "member": team["people"]["ada"][0]["person"],
        "name": "Ada",
        "typing": True,
    }
    assert "typing" not in [e for e, _ in ada.drain()]
    bad = ada.socket.call("typing", {"room": "channel:elsewhere"}, timeout=5)
    assert bad["ok"] is False and bad["error"]["status"] == 403
    assert ada.socket.call("typing", "nonsense", timeout=5)["error"]["status"] == 422


def test_presence_follows_sockets_joining_and_leaving(team, live_hub):
    owner = team["connect"]("owner")
    owner.join(team["room"])
    assert owner.next("presence")["member"] == "owner"  # the room hears each arrival
    bob_person = team["people"]["bob"][0]["person"]
    first, second = team["connect"]("bob"), team["connect"]("bob")  # two tabs
    first.join(team["room"])
    assert owner.next("presence") == {
        "channel_id": team["channel"]["id"],
        "member": bob_person,
        "name": "Bob",
        "status": "online",
    }
    second.join(team["room"])
    members = requests.get(
        f"{team['url']}/api/v1/channels/{team['channel']['id']}/members",
        headers=bearer(live_hub.hub.owner_token.value),
        timeout=5,
    ).json()
    online = {m["member"] for m in members["members"] if m["online"]}
    assert online == {"owner", bob_person}
    first.close()
    assert "presence" not in [e for e, _ in owner.drain()]  # the other tab is still there
    second.socket.call("leave", {"room": team["room"]}, timeout=5)
    assert owner.next("presence")["status"] == "offline"


def test_a_client_that_reconnects_catches_up_by_cursor(team):
    bob = team["connect"]("bob")
    bob.join(team["room"])
    say(team, "ada", "before the tunnel")
    last_seen = bob.next("message.created")["seq"]
    bob.close()
    missed = [say(team, "ada", f"while away {i}") for i in range(3)]
    back = team["connect"]("bob")
    back.join(team["room"])
    caught_up = requests.get(
        f"{team['url']}/api/v1/channels/{team['channel']['id']}/messages",
        params={"after": last_seen},
        headers=bearer(team["people"]["bob"][1]),
        timeout=5,
    ).json()
    assert [m["id"] for m in caught_up["messages"]] == [m["id"] for m in missed]
    assert caught_up["has_more"] is False
    now = say(team, "ada", "welcome back")
    assert back.next("message.created")["id"] == now["id"]


def test_edits_and_deletes_reach_the_room(team):
    bob = team["connect"]("bob")
    bob.join(team["room"])
    message = say(team, "ada", "tpyo")
    url = f"{team['url']}/api/v1/channels/{team['channel']['id']}/messages/{message['id']}"
    ada = bearer(team["people"]["ada"][1])
    requests.patch(url, json={"content": "typo"}, headers=ada, timeout=5)
    assert bob.next("message.updated")["content"] == "typo"
    requests.delete(url, headers=ada, timeout=5)
    assert bob.next("message.deleted") == {
        "id": message["id"],
        "channel_id": team["channel"]["id"],
        "seq": message["seq"],
    }


def test_a_removed_member_leaves_the_room_at_once(team, live_hub):
    bob = team["connect"]("bob")
    bob.join(team["room"])
    bob_person = team["people"]["bob"][0]["person"]
    response = requests.delete(
        f"{team['url']}/api/v1/channels/{team['channel']['id']}/members/{bob_person}",
        headers=bearer(live_hub.hub.owner_token.value),
        timeout=5,
    )
    assert response.status_code == 204
    say(team, "ada", "now that Bob is gone")
    assert [e for e, _ in bob.drain() if e.startswith("message.")] == []
    refused = bob.socket.call("typing", {"room": team["room"]}, timeout=5)
    assert refused["ok"] is False and refused["error"]["status"] == 403
    assert bob.join(team["room"])["ok"] is False

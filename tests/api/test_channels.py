"""Channels over the HTTP API: create, list, update, archive; members; messages with
cursor paging, threads, edits, deletes, @mentions; people and who may see what; the hot
cache never being the only copy; retention."""

from __future__ import annotations

from datetime import timedelta

import pytest

from neurocache.store.audit import Actor
from neurocache.store.types import utcnow
from tests.support.hub import assert_error, bearer, make_key


def user_with_key(client, owner, name: str, *scopes: str) -> tuple[dict, dict]:
    user = client.post(
        "/api/v1/users", json={"name": name, "display_name": name.title()}, headers=owner
    ).json
    key = client.post(
        f"/api/v1/users/{user['id']}/keys",
        json={"name": f"{name}'s laptop", "scopes": list(scopes) or ["read", "write", "chat"]},
        headers=owner,
    ).json
    return user, bearer(key["secret"])


def new_channel(client, headers, name="general", **extra) -> dict:
    response = client.post("/api/v1/channels", json={"name": name, **extra}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def say(client, headers, channel_id, content, **extra) -> dict:
    response = client.post(
        f"/api/v1/channels/{channel_id}/messages",
        json={"content": content, **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.json
    return response.json["message"]


def test_a_channel_lives_its_life(client, owner):
    channel = new_channel(client, owner, description="everything")
    assert channel["room"] == f"channel:{channel['id']}"
    assert [m["member"] for m in channel["members"]] == ["owner"]
    listed = client.get("/api/v1/channels", headers=owner).json["channels"]
    assert [c["id"] for c in listed] == [channel["id"]]
    path = f"/api/v1/channels/{channel['id']}"
    renamed = client.patch(path, json={"name": "town-square"}, headers=owner).json
    assert renamed["name"] == "town-square" and renamed["description"] == "everything"
    assert client.patch(path, json={"archived": True}, headers=owner).json["archived"]
    assert client.get("/api/v1/channels", headers=owner).json["channels"] == []
    assert len(client.get("/api/v1/channels?archived=true", headers=owner).json["channels"]) == 1
    assert_error(client.post(f"{path}/messages", json={"content": "hi"}, headers=owner), 409)
    client.patch(path, json={"archived": False}, headers=owner)
    say(client, owner, channel["id"], "back again")
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=owner).json["entries"]]
    assert {"channel.create", "channel.update"} <= set(actions)


def test_messages_page_back_and_catch_up_by_seq(client, owner, hub):
    channel = new_channel(client, owner)
    sent = [say(client, owner, channel["id"], f"message {i}") for i in range(12)]
    assert [m["seq"] for m in sent] == sorted(m["seq"] for m in sent)
    path = f"/api/v1/channels/{channel['id']}/messages"
    newest = client.get(f"{path}?limit=5", headers=owner).json
    assert [m["content"] for m in newest["messages"]] == [f"message {i}" for i in range(7, 12)]
    assert newest["has_more"]
    older = client.get(f"{path}?limit=5&before={newest['before']}", headers=owner).json
    assert [m["content"] for m in older["messages"]] == [f"message {i}" for i in range(2, 7)]
    oldest = client.get(f"{path}?limit=5&before={older['before']}", headers=owner).json
    assert [m["content"] for m in oldest["messages"]] == ["message 0", "message 1"]
    assert not oldest["has_more"]
    caught_up = client.get(f"{path}?after={sent[8]['seq']}", headers=owner).json
    assert [m["id"] for m in caught_up["messages"]] == [m["id"] for m in sent[9:]]
    # the hot cache served those; a fresh cache (a restarted hub) reads the store
    hub.channel_messages.cache.forget()
    again = client.get(f"{path}?after={sent[8]['seq']}", headers=owner).json
    assert again["messages"] == caught_up["messages"]
    assert_error(client.get(f"{path}?after=1&before=5", headers=owner), 422)
    assert_error(client.get(f"{path}?before=x", headers=owner), 422)


def test_threads_edits_deletes_and_mentions(client, owner, hub):
    ada, ada_headers = user_with_key(client, owner, "ada")
    channel = new_channel(client, owner)
    client.post(f"/api/v1/channels/{channel['id']}/members", json={"user_id": "ada"}, headers=owner)
    root = say(client, owner, channel["id"], "Who has the report? @ada")
    assert root["mentions"] == [ada["person"]]
    reply = say(client, ada_headers, channel["id"], "I do", reply_to=root["id"])
    assert reply["author"] == ada["person"] and reply["author_name"] == "Ada"
    path = f"/api/v1/channels/{channel['id']}/messages"
    thread = client.get(f"{path}?thread={root['id']}", headers=owner).json["messages"]
    assert [m["id"] for m in thread] == [reply["id"]]
    # only the author (or the owner) edits and deletes
    assert_error(
        client.patch(f"{path}/{root['id']}", json={"content": "x"}, headers=ada_headers), 403
    )
    edited = client.patch(
        f"{path}/{reply['id']}", json={"content": "I do, @owner"}, headers=ada_headers
    ).json
    assert edited["edited_at"] and edited["mentions"] == ["owner"]
    latest = client.get(path, headers=owner).json["messages"]
    assert latest[-1]["content"] == "I do, @owner"  # the cache follows edits
    assert client.delete(f"{path}/{reply['id']}", headers=owner).status_code == 204
    assert [m["id"] for m in client.get(path, headers=owner).json["messages"]] == [root["id"]]
    assert_error(client.get(f"{path}/{reply['id']}", headers=owner), 404)
    assert_error(client.post(path, json={"content": "x", "reply_to": "nope"}, headers=owner), 422)
    audit = client.get("/api/v1/audit", headers=owner).json["entries"]
    edit = next(e for e in audit if e["action"] == "channel.message.edit")
    assert edit["before"]["content"] == "I do" and edit["after"]["content"] == "I do, @owner"
    assert edit["actor"].startswith("key:")


def test_people_see_only_their_channels(client, owner, hub):
    _ada, ada_headers = user_with_key(client, owner, "ada")
    bob, bob_headers = user_with_key(client, owner, "bob")
    mine = new_channel(client, ada_headers, "ada-only")
    assert [m["member"] for m in mine["members"]] == [_ada["person"]]
    assert client.get("/api/v1/channels", headers=bob_headers).json["channels"] == []
    assert_error(client.get(f"/api/v1/channels/{mine['id']}", headers=bob_headers), 404)
    assert_error(client.get(f"/api/v1/channels/{mine['id']}/messages", headers=bob_headers), 404)
    assert_error(
        client.post(
            f"/api/v1/channels/{mine['id']}/messages",
            json={"content": "let me in"},
            headers=bob_headers,
        ),
        404,
    )
    # the owner sees every channel, and may add people
    assert len(client.get("/api/v1/channels", headers=owner).json["channels"]) == 1
    added = client.post(
        f"/api/v1/channels/{mine['id']}/members", json={"user_id": bob["id"]}, headers=ada_headers
    )
    assert added.status_code == 201 and added.json["name"] == "Bob"
    assert say(client, bob_headers, mine["id"], "thanks")["author_name"] == "Bob"
    me = client.get("/api/v1/session", headers=bob_headers).json["principal"]
    assert (me["person"], me["user"], me["kind"], me["scopes"]) == (
        bob["person"],
        "bob",
        "key",
        ["chat", "read", "write"],
    )
    # a disabled user's keys stop at once; what they said keeps their name
    assert client.delete(f"/api/v1/users/{bob['id']}", headers=owner).json["disabled_at"]
    assert_error(client.get("/api/v1/channels", headers=bob_headers), 401)
    messages = client.get(f"/api/v1/channels/{mine['id']}/messages", headers=owner).json
    assert messages["messages"][-1]["author_name"] == "Bob"


def test_agents_as_members(client, owner):
    agent = client.post("/api/v1/agents", json={"name": "Sea Captain"}, headers=owner).json
    channel = new_channel(client, owner)
    path = f"/api/v1/channels/{channel['id']}/members"
    added = client.post(path, json={"agent_id": agent["id"], "mode": "auto"}, headers=owner)
    assert added.status_code == 201
    assert added.json == {
        **added.json,
        "kind": "agent",
        "handle": "sea-captain",
        "mode": "auto",
        "online": False,
    }
    changed = client.post(path, json={"agent_id": agent["id"]}, headers=owner).json
    assert changed["mode"] == "mention"
    assert len(client.get(path, headers=owner).json["members"]) == 2
    assert client.delete(f"{path}/agent:{agent['id']}", headers=owner).status_code == 204
    client.post(path, json={"agent_id": agent["id"]}, headers=owner)
    client.delete(f"/api/v1/agents/{agent['id']}", headers=owner)  # leaves its channels
    assert [m["member"] for m in client.get(path, headers=owner).json["members"]] == ["owner"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/channels", {}, 422),
        ("post", "/api/v1/channels", {"name": "Has Spaces"}, 422),
        ("post", "/api/v1/channels", {"name": "general"}, 409),
        ("get", "/api/v1/channels/nope", None, 404),
        ("patch", "/api/v1/channels/{id}", {"name": None}, 422),
        ("post", "/api/v1/channels/{id}/members", {}, 422),
        ("post", "/api/v1/channels/{id}/members", {"agent_id": "a", "user_id": "b"}, 422),
        ("post", "/api/v1/channels/{id}/members", {"agent_id": "nope"}, 404),
        ("post", "/api/v1/channels/{id}/members", {"user_id": "nope"}, 404),
        ("delete", "/api/v1/channels/{id}/members/user:nope", None, 404),
        ("post", "/api/v1/channels/{id}/messages", {"content": ""}, 422),
        ("post", "/api/v1/channels/{id}/messages", {"content": 5}, 422),
        ("patch", "/api/v1/channels/{id}/messages/nope", {"content": "x"}, 404),
        ("delete", "/api/v1/channels/{id}/messages/nope", None, 404),
        ("post", "/api/v1/channels/{id}/query", {"question": "why?"}, 409),  # no agents
        ("post", "/api/v1/users", {"name": "Not Valid"}, 422),
        ("post", "/api/v1/users", {"name": "owner"}, 409),
        ("get", "/api/v1/users/nope", None, 404),
    ],
)
def test_channel_errors(client, owner, method, path, body, status):
    channel = new_channel(client, owner)
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(path.format(id=channel["id"]), headers=owner, **kwargs)
    assert_error(response, status)


def test_scopes(client, owner, hub):
    channel = new_channel(client, owner)
    reader = bearer(make_key(hub, "read"))
    assert (
        client.get(f"/api/v1/channels/{channel['id']}/messages", headers=reader).status_code == 200
    )
    assert_error(
        client.post(
            f"/api/v1/channels/{channel['id']}/messages", json={"content": "x"}, headers=reader
        ),
        403,
    )
    assert_error(client.post("/api/v1/channels", json={"name": "x"}, headers=reader), 403)
    assert_error(client.post("/api/v1/users", json={"name": "x"}, headers=reader), 403)


def test_messages_are_memories_searchable_with_everything_else(client, owner, hub):
    channel = new_channel(client, owner)
    message = say(client, owner, channel["id"], "The lighthouse keeper feeds the gulls")
    assert hub.index_later.wait_idle(30)
    results = client.post(
        "/api/v1/search",
        json={"query": "lighthouse gulls", "kinds": ["channel_message"]},
        headers=owner,
    ).json["results"]
    assert results[0]["memory_id"] == message["id"] and results[0]["owner"] == "owner"
    graph = client.get(f"/api/v1/memories/{message['id']}/graph", headers=owner).json
    assert {e["relation"] for e in graph["edges"]} == {"in_session"}


def test_retention_deletes_old_messages_and_their_index_entries(client, owner, hub):
    channel = new_channel(client, owner)
    old = say(client, owner, channel["id"], "an ancient walrus sighting")
    hub.index_later.wait_idle(30)
    assert hub.maintenance.run_once().messages_deleted == 0  # retention is off
    hub.maintenance.retention_days = 30
    assert hub.maintenance.run_once().messages_deleted == 0  # not old yet
    report = hub.maintenance.run_once(now=utcnow() + timedelta(days=31))
    assert report.messages_deleted == 1
    path = f"/api/v1/channels/{channel['id']}/messages"
    assert client.get(path, headers=owner).json["messages"] == []
    assert_error(client.get(f"{path}/{old['id']}", headers=owner), 404)
    for mode in ("fulltext", "vector"):
        assert (
            client.post(
                "/api/v1/search",
                json={"query": "ancient walrus", "mode": mode, "kinds": ["channel_message"]},
                headers=owner,
            ).json["results"]
            == []
        )


def test_people_see_only_their_own_conversations(client, owner, hub):
    ada, ada_headers = user_with_key(client, owner, "ada")
    _bob, bob_headers = user_with_key(client, owner, "bob")
    mine = client.post("/api/v1/conversations", json={"title": "Ada's"}, headers=ada_headers)
    assert mine.status_code == 201
    path = f"/api/v1/conversations/{mine.json['id']}"
    assert client.get(path, headers=ada_headers).status_code == 200
    assert client.get(path, headers=owner).status_code == 200  # the owner sees every one
    for method, suffix, body in (
        ("get", "", None),
        ("patch", "", {"title": "mine now"}),
        ("delete", "", None),
        ("get", "/export", None),
        ("post", "/messages", {"content": "hi"}),
    ):
        kwargs = {"json": body} if body is not None else {}
        assert_error(getattr(client, method)(path + suffix, headers=bob_headers, **kwargs), 404)
    assert client.get("/api/v1/conversations", headers=bob_headers).json["conversations"] == []
    assert [
        c["id"]
        for c in client.get("/api/v1/conversations", headers=ada_headers).json["conversations"]
    ] == [mine.json["id"]]
    socketio_ext = client.application.extensions["socketio"]
    bob_socket = socketio_ext.test_client(
        client.application,
        flask_test_client=client,
        auth={"token": bob_headers["Authorization"][7:]},
    )
    refused = bob_socket.emit("join", {"room": f"conversation:{mine.json['id']}"}, callback=True)
    assert refused["ok"] is False and refused["error"]["status"] == 403
    assert ada["person"].startswith("user:")


def test_a_seq_is_never_given_twice(client, owner):
    channel = new_channel(client, owner)
    first = say(client, owner, channel["id"], "one")
    client.delete(f"/api/v1/channels/{channel['id']}/messages/{first['id']}", headers=owner)
    second = say(client, owner, channel["id"], "two")
    assert second["seq"] > first["seq"]  # a client that saw `first` still catches `second`
    caught = client.get(
        f"/api/v1/channels/{channel['id']}/messages?after={first['seq']}", headers=owner
    ).json["messages"]
    assert [m["id"] for m in caught] == [second["id"]]


def test_only_the_creator_or_owner_manages_a_channel(client, owner):
    ada, ada_headers = user_with_key(client, owner, "ada")
    bob, bob_headers = user_with_key(client, owner, "bob")
    channel = new_channel(client, ada_headers, "adas")
    members = f"/api/v1/channels/{channel['id']}/members"
    assert client.post(members, json={"user_id": "bob"}, headers=ada_headers).status_code == 201
    assert (
        client.post(members, json={"user_id": "owner"}, headers=bob_headers).status_code == 201
    )  # any member may invite
    path = f"/api/v1/channels/{channel['id']}"
    assert_error(client.patch(path, json={"name": "bobs"}, headers=bob_headers), 403)
    assert_error(client.patch(path, json={"archived": True}, headers=bob_headers), 403)
    assert_error(client.delete(f"{members}/{ada['person']}", headers=bob_headers), 403)
    assert client.patch(path, json={"name": "ours"}, headers=owner).status_code == 200
    assert (
        client.delete(f"{members}/{bob['person']}", headers=bob_headers).status_code == 204
    )  # anyone may leave
    assert_error(client.get(path, headers=bob_headers), 404)


def test_a_users_key_is_never_admin(client, owner):
    ada, _headers = user_with_key(client, owner, "ada")
    response = client.post(
        f"/api/v1/users/{ada['id']}/keys", json={"name": "root", "scopes": ["admin"]}, headers=owner
    )
    assert_error(response, 422)
    client.delete(f"/api/v1/users/{ada['id']}", headers=owner)
    assert_error(
        client.post(
            f"/api/v1/users/{ada['id']}/keys",
            json={"name": "again", "scopes": ["read"]},
            headers=owner,
        ),
        409,
    )


def test_an_agents_channel_messages_outlive_it_and_are_not_its_tier_memories(client, owner, hub):
    agent = client.post("/api/v1/agents", json={"name": "Scribe"}, headers=owner).json
    channel = new_channel(client, owner)
    said = hub.channel_messages.post(channel["id"], f"agent:{agent['id']}", "noted")
    assert (
        client.get(f"/api/v1/agents/{agent['id']}/memories", headers=owner).json["memories"] == []
    )
    assert_error(client.get(f"/api/v1/agents/{agent['id']}/memories/{said.id}", headers=owner), 404)
    client.delete(f"/api/v1/agents/{agent['id']}", headers=owner)
    kept = client.get(f"/api/v1/channels/{channel['id']}/messages", headers=owner).json
    assert [(m["id"], m["author_name"]) for m in kept["messages"]] == [(said.id, "Scribe")]


def test_retention_works_through_a_backlog_in_batches(hub):
    channel = hub.channels.create(Actor("t"), "owner", name="old")
    for i in range(7):
        hub.channel_messages.post(channel.id, "owner", f"m{i}")
    assert hub.channel_messages.delete_older_than(utcnow() + timedelta(days=1), batch=3) == 7
    assert hub.channel_messages.page(channel.id).messages == []


def test_the_cache_never_shows_a_message_twice_or_out_of_order():
    from neurocache.channels.cache import ChannelCache
    from neurocache.channels.records import ChannelMessageRecord

    cache = ChannelCache(size=10)

    def view(seq):
        return ChannelMessageRecord(
            id=f"m{seq}",
            seq=seq,
            channel_id="c",
            author="owner",
            author_name="owner",
            author_kind="person",
            content=f"message {seq}",
            reply_to=None,
            mentions=[],
            status="complete",
            sources=[],
            created_at="2026-01-01T00:00:00.000Z",
            edited_at=None,
        )

    assert cache.latest("c", 5, lambda n: [view(1), view(2)]) == [view(1), view(2)]
    cache.added(view(2))  # loaded just after its commit, then announced
    cache.added(view(4))
    cache.added(view(3))  # two posts that reached the cache in the other order
    assert [v.seq for v in cache.latest("c", 10, lambda n: [])] == [1, 2, 3, 4]


def test_long_term_recall_stays_within_a_persons_own_conversations(hub):
    adas = hub.conversations.create(Actor("t"), owner="user:ada")
    owners = hub.conversations.create(Actor("t"))
    secret = hub.conversations.add_message(adas.id, "user", "my secret", parent_id=None)
    mine = hub.conversations.add_message(owners.id, "user", "my note", parent_id=None)
    asking = hub.conversations.create(Actor("t"))
    ids = [secret.id, mine.id]
    assert hub.conversations.recallable_roles(ids, besides=asking.id) == {mine.id: "user"}
    assert hub.conversations.recallable_roles(ids, besides=asking.id, owner="user:ada") == {
        secret.id: "user"
    }


def test_what_belongs_to_a_private_channel_stays_there(client, owner, hub):
    """Through the generic memory, graph and search endpoints, and through an agent's
    memories of turns taken there."""
    _ada, ada_headers = user_with_key(client, owner, "ada")
    bob, bob_headers = user_with_key(client, owner, "bob")
    private = new_channel(client, ada_headers, "ada-private")
    secret = say(client, ada_headers, private["id"], "The vault code is walrus")
    agent = client.post("/api/v1/agents", json={"name": "Keeper"}, headers=owner).json
    hub.tiers.record_turn(
        agent["id"],
        "#ada-private",
        "Ada: the vault code?",
        "walrus",
        source={"channel_id": private["id"]},
    )
    hub.index_later.wait_idle(30)
    for path in (
        f"/api/v1/memories/{secret['id']}",
        f"/api/v1/memories/{private['id']}",
        f"/api/v1/memories/{private['id']}/graph",
    ):
        assert_error(client.get(path, headers=bob_headers), 404)
        assert client.get(path, headers=owner).status_code == 200
    assert (
        client.post(
            "/api/v1/search", json={"query": "vault code walrus"}, headers=bob_headers
        ).json["results"]
        == []
    )
    assert client.post(
        "/api/v1/search", json={"query": "vault code walrus"}, headers=ada_headers
    ).json["results"]
    agent_memories = f"/api/v1/agents/{agent['id']}/memories"
    assert client.get(agent_memories, headers=bob_headers).json["memories"] == []
    [remembered] = client.get(agent_memories, headers=ada_headers).json["memories"]
    assert_error(client.get(f"{agent_memories}/{remembered['id']}", headers=bob_headers), 404)
    assert (
        client.post(
            f"/api/v1/agents/{agent['id']}/search", json={"query": "vault"}, headers=bob_headers
        ).json["results"]
        == []
    )
    # channel messages change only through the channel API, even for the owner
    assert_error(
        client.patch(f"/api/v1/memories/{secret['id']}", json={"content": "x"}, headers=owner), 409
    )
    # the agent does not bring it up where Bob can hear it
    public = new_channel(client, owner, "public")
    for member in ({"user_id": bob["id"]}, {"agent_id": agent["id"]}):
        client.post(f"/api/v1/channels/{public['id']}/members", json=member, headers=owner)
    recalled = hub.channel_agents._sources(hub.agents.get(agent["id"]), "vault code", public["id"])
    assert not any("walrus" in s.text for s in recalled)
    in_private = hub.channel_agents._sources(
        hub.agents.get(agent["id"]), "vault code", private["id"]
    )
    assert any("walrus" in s.text for s in in_private)
    # and its room, which carries every memory it makes, is the owner's
    socketio_ext = client.application.extensions["socketio"]
    bob_socket = socketio_ext.test_client(
        client.application,
        flask_test_client=client,
        auth={"token": bob_headers["Authorization"][7:]},
    )
    joined = bob_socket.emit("join", {"room": f"agent:{agent['id']}"}, callback=True)
    assert joined["ok"] is False and joined["error"]["status"] == 403

"""The memory graph API: memories and edges, traversal, hierarchy cycles refused, audit."""

from __future__ import annotations

import pytest

from tests.support.hub import assert_error, bearer, make_key


def memory(client, owner, content, **fields):
    response = client.post(
        "/api/v1/memories", json={"kind": "note", "content": content, **fields}, headers=owner
    )
    assert response.status_code == 201, response.json
    return response.json


def edge(client, owner, source, target, relation, **fields):
    return client.post(
        "/api/v1/edges",
        json={"source": source, "target": target, "relation": relation, **fields},
        headers=owner,
    )


def test_a_memory_is_created_found_edited_and_deleted(client, owner, hub):
    note = memory(
        client,
        owner,
        "The kayak is stored in the boathouse",
        tier="long_term",
        metadata={"topic": "boats"},
    )
    assert note["tier"] == "long_term" and len(note["content_hash"]) == 64
    found = client.post(
        "/api/v1/search", json={"query": "where is the kayak", "kinds": ["note"]}, headers=owner
    ).json["results"]
    assert found[0]["memory_id"] == note["id"]
    changed = client.patch(
        f"/api/v1/memories/{note['id']}",
        headers=owner,
        json={"content": "The canoe is in the garage"},
    ).json
    assert changed["content_hash"] != note["content_hash"]
    vector = client.post(
        "/api/v1/search",
        json={"query": "canoe garage", "mode": "vector", "kinds": ["note"]},
        headers=owner,
    ).json
    assert vector["results"][0]["text"] == "The canoe is in the garage"
    assert client.delete(f"/api/v1/memories/{note['id']}", headers=owner).status_code == 204
    assert_error(client.get(f"/api/v1/memories/{note['id']}", headers=owner), 404)
    assert (
        client.post(
            "/api/v1/search", json={"query": "canoe", "kinds": ["note"]}, headers=owner
        ).json["results"]
        == []
    )
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=owner).json["entries"]]
    assert {"memory.create", "memory.update", "memory.delete"} <= set(actions)


def test_edges_traversal_and_cycles_refused(client, owner):
    a, b, c, d = (memory(client, owner, name)["id"] for name in "abcd")
    assert edge(client, owner, a, b, "child_of").status_code == 201
    assert edge(client, owner, b, c, "child_of", weight=0.5).status_code == 201
    assert edge(client, owner, c, d, "mentions").status_code == 201
    assert_error(edge(client, owner, c, a, "child_of"), 409)  # a → b → c → a
    assert_error(edge(client, owner, a, a, "part_of"), 409)
    assert edge(client, owner, c, a, "mentions").status_code == 201  # not a hierarchy
    near = client.get(f"/api/v1/memories/{a}/graph?depth=1", headers=owner).json
    assert {m["id"] for m in near["memories"]} == {a, b, c}  # c by its `mentions` edge
    assert {(e["source"], e["target"]) for e in near["edges"]} == {(a, b), (c, a)}
    deep = client.get(f"/api/v1/memories/{a}/graph?depth=2", headers=owner).json
    assert {m["id"] for m in deep["memories"]} == {a, b, c, d}
    alone = client.get(f"/api/v1/memories/{a}/graph?depth=0", headers=owner).json
    assert [m["id"] for m in alone["memories"]] == [a] and alone["edges"] == []
    first = edge(client, owner, d, b, "related").json["id"]
    assert client.delete(f"/api/v1/edges/{first}", headers=owner).status_code == 204
    assert_error(client.delete(f"/api/v1/edges/{first}", headers=owner), 404)
    client.delete(f"/api/v1/memories/{b}", headers=owner)  # its edges go with it
    graph = client.get(f"/api/v1/memories/{a}/graph?depth=3", headers=owner).json
    assert {m["id"] for m in graph["memories"]} == {a, c, d}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", "/api/v1/memories", {"kind": "chunk", "content": "x"}, 422),
        ("post", "/api/v1/memories", {"kind": "Bad Kind", "content": "x"}, 422),
        ("post", "/api/v1/memories", {"kind": "note", "content": ""}, 422),
        ("post", "/api/v1/memories", {"kind": "note", "content": "x", "tier": "attic"}, 422),
        ("post", "/api/v1/edges", {"source": "nope", "target": "nope", "relation": "x"}, 404),
        ("get", "/api/v1/memories/nope", None, 404),
        ("get", "/api/v1/memories/nope/graph?depth=9", None, 422),
        ("patch", "/api/v1/memories/nope", {"content": "x"}, 404),
    ],
)
def test_memory_input_errors(client, owner, method, path, body, status):
    kwargs = {"json": body} if body is not None else {}
    assert_error(getattr(client, method)(path, headers=owner, **kwargs), status)


def test_the_hubs_own_memories_are_changed_through_their_own_api(client, owner, hub):
    from neurocache.store.audit import Actor

    conversation = hub.conversations.create(Actor("t"))
    assert_error(
        client.patch(f"/api/v1/memories/{conversation.id}", headers=owner, json={"content": "x"}),
        409,
    )
    assert (
        client.get(f"/api/v1/memories/{conversation.id}", headers=owner).json["kind"]
        == "conversation"
    )
    note = memory(client, owner, "x")
    assert_error(
        client.patch(f"/api/v1/memories/{note['id']}", headers=owner, json={"content": None}), 422
    )


def test_reading_needs_read_and_writing_needs_write(client, hub):
    reader = bearer(make_key(hub, "read"))
    assert_error(
        client.post("/api/v1/memories", json={"kind": "note", "content": "x"}, headers=reader), 403
    )

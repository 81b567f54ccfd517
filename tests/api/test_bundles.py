"""Export and import bundles between two real hubs (two data dirs, real SQLite, the built-in
embedder): a collection, an agent, a conversation, a channel and every chat make the round
trip with new ids and their relations intact; a bad bundle writes nothing; a person exports
only what they may read; imports are audited; the CLI does the same."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import func, select

from neurocache.app import create_app, hub_of
from neurocache.cli.main import main
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from neurocache.store.tables import AuditEntry, Edge, Memory, Vector
from tests.support.hub import assert_error, bearer

TEST = Actor("test")
RHINE = (
    "The Rhine flows through Basel and into the North Sea. Salmon return to the rivers "
    "of Europe each autumn, swimming upstream to spawn.\n\n"
) * 6
DANUBE = "The Danube passes Vienna and Budapest before it reaches the Black Sea."


def load_embedder(*hubs: Hub) -> None:
    """One at a time: llama.cpp silences stdout/stderr while it loads a model by swapping
    the process's file descriptors, and two loads at once can leave them swapped."""
    for hub in hubs:
        assert hub.embedder.dimension


@pytest.fixture
def other(tmp_path: Path, hub: Hub) -> Iterator[Flask]:
    """A second hub with its own data dir: where bundles are imported."""
    app = create_app(Settings(data_dir=tmp_path / "other"), testing=True)
    load_embedder(hub, hub_of(app))
    yield app
    hub_of(app).close()


@pytest.fixture
def there(other: Flask) -> Hub:
    return hub_of(other)


def owner(hub: Hub) -> dict[str, str]:
    return bearer(hub.owner_token.value)


def export(app: Flask, path: str, headers: dict[str, str] | None = None) -> dict:
    response = app.test_client().get(path, headers=headers or owner(hub_of(app)))
    assert response.status_code == 200, response.json
    assert response.headers["Content-Disposition"].startswith("attachment")
    return response.json


def import_(app: Flask, bundle: dict, headers: dict[str, str] | None = None) -> dict:
    response = app.test_client().post(
        "/api/v1/import", json=bundle, headers=headers or owner(hub_of(app))
    )
    assert response.status_code == 201, response.json
    return response.json


def rivers(hub: Hub) -> dict:
    """A collection of two indexed documents, one `mentions` the other."""
    collection = hub.knowledge.create_collection("Rivers", "Water, mostly", TEST)
    rhine = hub.knowledge.add_text(
        title="Rhine",
        body=RHINE,
        fmt="text",
        actor=TEST,
        url="https://example.org/rhine",
        collection="Rivers",
        metadata={"tags": ["europe"]},
    ).document
    danube = hub.knowledge.add_text(
        title="Danube", body=DANUBE, fmt="markdown", actor=TEST, collection="Rivers"
    ).document
    hub.jobs.start()
    assert hub.jobs.wait_idle(120)
    hub.graph.connect(TEST, source=danube.id, target=rhine.id, relation="mentions")
    return collection


def memory_count(hub: Hub) -> tuple[int, int]:
    with hub.db.session() as session:
        return (
            session.scalar(select(func.count()).select_from(Memory)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def edges_of(hub: Hub, ids: set[str]) -> set[tuple[str, str, str]]:
    with hub.db.session() as session:
        return {
            (e.source_id, e.target_id, e.relation)
            for e in session.scalars(select(Edge).where(Edge.source_id.in_(ids)))
        }


def chunks_of(hub: Hub, document_id: str) -> list[tuple[str, int, int]]:
    with hub.db.session() as session:
        rows = session.scalars(
            select(Memory)
            .join(Edge, Edge.source_id == Memory.id)
            .where(Edge.target_id == document_id, Edge.relation == "part_of")
        )
        return sorted((m.content, m.meta["start"], m.meta["end"]) for m in rows)


# ---- round trips
def test_a_collection_travels_with_its_documents_chunks_and_edges(app, hub, other, there):
    collection = rivers(hub)
    bundle = export(app, f"/api/v1/collections/{collection.id}/export")
    assert bundle["neurocache_bundle"] == 1 and bundle["kind"] == "collection"
    assert {"exported_at", "hub_version"} <= set(bundle) and "embedder" not in bundle
    assert all("vector" not in c for d in bundle["documents"] for c in d["chunks"])
    answer = import_(other, bundle)
    (created,) = answer["created"]
    assert created["type"] == "collection" and created["name"] == "Rivers"
    ids = answer["id_map"]
    for document in bundle["documents"]:
        new = there.knowledge.get_document(ids[document["id"]])
        assert (new.title, new.url, new.collection_id, new.status) == (
            document["title"],
            document["url"],
            created["id"],
            "indexed",
        )
        assert chunks_of(there, new.id) == chunks_of(hub, document["id"])
        assert all(ids[c["id"]] != c["id"] for c in document["chunks"])
    rhine, danube = (ids[d["id"]] for d in bundle["documents"])
    assert (danube, rhine, "mentions") in edges_of(there, {danube})
    assert there.graph.get(rhine).metadata["tags"] == ["europe"]
    assert there.index_later.wait_idle(120)
    results = there.search.search("salmon upstream", k=3, mode="vector")
    assert results and results[0].document.id == rhine

    again = import_(other, bundle)  # a second copy, the first untouched
    assert again["created"][0]["name"] == "Rivers (2)" and again["warnings"]
    assert len(there.knowledge.list_documents(collection="Rivers")[0]) == 2
    assert len(there.knowledge.list_documents(collection="Rivers (2)")[0]) == 2


def test_vectors_travel_only_when_asked_and_are_kept_by_the_same_embedder(app, hub, other, there):
    collection = rivers(hub)
    bundle = export(app, f"/api/v1/collections/{collection.id}/export?vectors=true")
    assert bundle["embedder"]["name"] == "builtin"
    assert all(c["vector"] for d in bundle["documents"] for c in d["chunks"])
    answer = import_(other, bundle)
    chunk_ids = [answer["id_map"][c["id"]] for d in bundle["documents"] for c in d["chunks"]]
    with there.db.session() as session:  # stored with the rows, in the same transaction
        assert session.scalar(
            select(func.count()).select_from(Vector).where(Vector.memory_id.in_(chunk_ids))
        ) == len(chunk_ids)


def test_vectors_of_another_size_are_not_kept_and_search_still_works(app, hub, other, there):
    collection = rivers(hub)
    bundle = export(app, f"/api/v1/collections/{collection.id}/export?vectors=true")
    bundle["embedder"]["dimension"] = 3  # same name, another model: its vectors must not go in
    for document in bundle["documents"]:
        for chunk in document["chunks"]:
            chunk["vector"] = base64.b64encode(np.full(3, 0.5, dtype="<f4").tobytes()).decode()
    answer = import_(other, bundle)
    assert any("embedded again" in w for w in answer["warnings"])
    assert there.index_later.wait_idle(60) and there.jobs.wait_idle(60)
    found = there.search.search("Danube", k=3, mode="hybrid")
    assert found and all(r.memory_id for r in found)


def test_a_users_import_puts_no_words_in_others_mouths(app, hub, other, there):
    channel = channel_with_threads(hub)
    bundle = export(app, f"/api/v1/channels/{channel.id}/export")
    ada = there.users.create("ada", TEST)
    bob = there.users.create("bob", TEST)
    there.agents.create(TEST, name="Scout")
    _view, secret = there.keys.create("bob", ["read", "write"], TEST, owner=bob.person)
    answer = import_(other, bundle, bearer(secret))
    page = there.channel_messages.page(answer["created"][0]["id"]).messages
    assert [m.author for m in page] == [
        "imported:owner:owner",
        "imported:user:ada",
        "imported:agent:Scout",
        "imported:owner:owner",
    ]
    assert ada.person not in {m.author for m in page}
    assert any("keep their authors' names" in w for w in answer["warnings"])


def test_an_agent_travels_with_its_memories_edges_and_collections(app, hub, other, there):
    collection = rivers(hub)
    import_(other, export(app, f"/api/v1/collections/{collection.id}/export"))
    agent = hub.agents.create(
        TEST, name="Scout", persona="You explore rivers.", temperature=0.3, collections=["Rivers"]
    )
    notes = {
        tier: hub.tiers.create(
            agent.id, TEST, tier=tier, content=f"a {tier} note", metadata={"n": i}
        )
        for i, tier in enumerate(("working", "long_term", "personal_log", "archive"))
    }
    hub.graph.connect(
        TEST, source=notes["long_term"].id, target=notes["archive"].id, relation="summarizes"
    )
    hub.graph.connect(
        TEST,
        source=notes["working"].id,
        target=notes["long_term"].id,
        relation="child_of",
        weight=0.5,
    )
    bundle = export(app, f"/api/v1/agents/{agent.id}/export")
    assert bundle["agent"]["collections"] == ["Rivers"]
    answer = import_(other, bundle)
    (created,) = answer["created"]
    new = there.agents.get(created["id"])
    assert (new.name, new.persona, new.temperature) == (
        "Scout",
        "You explore rivers.",
        0.3,
    )
    assert new.collections == [there.knowledge.collection_id("Rivers")]
    memories, _ = there.tiers.list(created["id"])
    assert sorted((m.tier, m.content, m.metadata["n"]) for m in memories) == sorted(
        (tier, note.content, note.metadata["n"]) for tier, note in notes.items()
    )
    ids = answer["id_map"]
    assert edges_of(there, {m.id for m in memories}) == {
        (ids[notes["long_term"].id], ids[notes["archive"].id], "summarizes"),
        (ids[notes["working"].id], ids[notes["long_term"].id], "child_of"),
    }


def conversation_with_branches(hub: Hub, agent_id: str | None = None) -> dict:
    if not hub.knowledge.list_collections():
        hub.knowledge.create_collection("Rivers", "", TEST)
    conversation = hub.conversations.create(
        TEST, title="Fish", collections=["Rivers"], agent_id=agent_id, short_term=False
    )
    question = hub.conversations.add_message(
        conversation.id, "user", "Where do salmon go?", parent_id=None
    )
    first = hub.conversations.add_message(
        conversation.id, "assistant", "Upstream [1].", parent_id=question.id
    )
    hub.conversations.finish_message(
        first.id,
        "Upstream [1].",
        sources=[
            {
                "number": 1,
                "memory_id": "elsewhere",
                "quote": "Salmon return",
                "cited": True,
                "title": "Rhine",
            }
        ],
    )
    hub.conversations.add_message(
        conversation.id, "assistant", "To the sea.", parent_id=question.id
    )  # a regenerated branch
    return hub.conversations.get(conversation.id)


def comparable(conversation: dict) -> list[tuple]:
    return [(m.role, m.content, m.sources, m.status, m.created_at) for m in conversation.messages]


def test_a_conversation_travels_with_its_branches_sources_and_agent(app, hub, other, there):
    collection = rivers(hub)
    import_(other, export(app, f"/api/v1/collections/{collection.id}/export"))
    agent = hub.agents.create(TEST, name="Scout")
    there.agents.create(TEST, name="Scout")
    original = conversation_with_branches(hub, agent.id)
    bundle = export(app, f"/api/v1/conversations/{original.id}/export/bundle")
    assert len(bundle["messages"]) == 3 and bundle["conversation"]["agent"] == "Scout"
    answer = import_(other, bundle)
    ids = answer["id_map"]
    copy = there.conversations.get(ids[original.id])
    assert comparable(copy) == comparable(original)
    assert (copy.title, copy.short_term, copy.long_term) == ("Fish", False, True)
    assert copy.agent_id == there.agents.list()[0][0].id
    assert copy.collections == [there.knowledge.collection_id("Rivers")]
    assert copy.head_id == ids[original.head_id]
    question, first, _second = bundle["messages"]
    with there.db.session() as session:
        branch = session.scalars(
            select(Edge.source_id).where(
                Edge.target_id == ids[question["id"]], Edge.relation == "reply_to"
            )
        ).all()
    assert set(branch) == {ids[first["id"]], ids[_second["id"]]}


def test_a_fork_carries_the_history_it_shares(app, hub, other, there):
    original = conversation_with_branches(hub)
    fork = hub.conversations.fork(original.id, original.messages[0].id, TEST, title="Forked")
    hub.conversations.add_message(
        fork.id, "user", "And in winter?", parent_id=original.messages[0].id
    )
    bundle = export(app, f"/api/v1/conversations/{fork.id}/export/bundle")
    assert bundle["conversation"]["forked_from"] is None  # self-contained
    copy = there.conversations.get(import_(other, bundle)["created"][0]["id"])
    assert [m.content for m in copy.messages] == ["Where do salmon go?", "And in winter?"]


def channel_with_threads(hub: Hub) -> dict:
    ada = hub.users.create("ada", TEST, "Ada L.")
    agent = hub.agents.create(TEST, name="Scout")
    channel = hub.channels.create(TEST, "owner", name="rivers", description="wet talk")
    hub.channels.add_member(channel.id, ada.person, TEST)
    hub.channels.add_member(channel.id, f"agent:{agent.id}", TEST, mode="auto")
    say = hub.channel_messages.post
    root = say(channel.id, "owner", "Who has seen the Rhine, @ada?")
    say(channel.id, ada.person, "I have, in Basel.", reply_to=root.id)
    say(channel.id, f"agent:{agent.id}", "Salmon swim there.", reply_to=root.id)
    say(channel.id, "owner", "A new topic.")
    return channel


def test_a_channel_travels_with_members_authors_threads_and_order(app, hub, other, there):
    channel = channel_with_threads(hub)
    ada = there.users.create("ada", TEST)
    scout = there.agents.create(TEST, name="Scout")
    bundle = export(app, f"/api/v1/channels/{channel.id}/export")
    assert [m["author"]["kind"] for m in bundle["messages"]] == ["owner", "user", "agent", "owner"]
    answer = import_(other, bundle)
    ids = answer["id_map"]
    new_id = answer["created"][0]["id"]
    copy = there.channels.get(new_id)
    assert (copy.name, copy.description) == ("rivers", "wet talk")
    assert {(m.member, m.mode) for m in copy.members} == {
        ("owner", "mention"),
        (ada.person, "mention"),
        (f"agent:{scout.id}", "auto"),
    }
    page = there.channel_messages.page(new_id, limit=50).messages
    old = hub.channel_messages.page(channel.id, limit=50).messages
    assert [m.content for m in page] == [m.content for m in old]
    assert [m.seq for m in page] == sorted(m.seq for m in page)
    assert [m.author for m in page] == ["owner", ada.person, f"agent:{scout.id}", "owner"]
    assert [m.reply_to for m in page] == [None, ids[old[0].id], ids[old[0].id], None]
    assert page[0].mentions == [ada.person]
    thread = there.channel_messages.page(new_id, thread=ids[old[0].id]).messages
    assert [m.id for m in thread] == [ids[old[1].id], ids[old[2].id]]

    again = import_(other, bundle)
    assert again["created"][0]["name"] == "rivers-2"
    assert len(there.channel_messages.page(new_id).messages) == 4


def test_a_channel_whose_people_are_missing_keeps_their_names(app, hub, other, there):
    channel = channel_with_threads(hub)
    answer = import_(other, export(app, f"/api/v1/channels/{channel.id}/export"))
    page = there.channel_messages.page(answer["created"][0]["id"]).messages
    assert [m.author_name for m in page][:3] == ["owner", "Ada L.", "Scout"]
    assert page[1].author == "imported:user:ada"
    assert any("ada" in w for w in answer["warnings"])
    again = import_(app, export(other, f"/api/v1/channels/{page[0].channel_id}/export"))
    back = hub.channel_messages.page(again["created"][0]["id"]).messages
    assert back[1].author.startswith("user:")  # resolved by name again at home


def test_every_chat_as_jsonl_keeps_forks_across_lines(app, hub, other, there):
    original = conversation_with_branches(hub)
    fork = hub.conversations.fork(original.id, original.messages[0].id, TEST)
    hub.conversations.add_message(
        fork.id, "user", "And in winter?", parent_id=original.messages[0].id
    )
    channel = channel_with_threads(hub)
    response = app.test_client().get("/api/v1/export/chats", headers=owner(hub))
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert lines[0]["kind"] == "chats" and lines[0]["neurocache_bundle"] == 1
    assert [line["type"] for line in lines[1:]] == ["conversation", "conversation", "channel"]
    assert [len(line["messages"]) for line in lines[1:3]] == [3, 1]  # nothing twice
    assert lines[2]["conversation"]["forked_from"] == original.messages[0].id
    imported = other.test_client().post(
        "/api/v1/import",
        data=response.get_data(),
        headers={**owner(there), "Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 201, imported.json
    ids = imported.json["id_map"]
    copy = there.conversations.get(ids[fork.id])
    assert [m.content for m in copy.messages] == ["Where do salmon go?", "And in winter?"]
    assert copy.forked_from == ids[original.messages[0].id]
    assert copy.messages[0].id == ids[original.messages[0].id]
    assert len(there.channel_messages.page(ids[channel.id]).messages) == 4


# ---- what is refused
def conversation_bundle(hub: Hub, app: Flask) -> dict:
    conversation = conversation_with_branches(hub)
    return export(app, f"/api/v1/conversations/{conversation.id}/export/bundle")


def broken(bundle: dict, change) -> dict:
    bundle = json.loads(json.dumps(bundle))
    change(bundle)
    return bundle


CASES = {
    "unknown version": (lambda b: b.update(neurocache_bundle=2), 422, "unsupported_version"),
    "no header": (lambda b: b.pop("neurocache_bundle"), 422, "validation_error"),
    "unknown kind": (lambda b: b.update(kind="spaceship"), 422, "validation_error"),
    "missing field": (lambda b: b["messages"][0].pop("role"), 422, "validation_error"),
    "missing part": (lambda b: b.pop("conversation"), 422, "validation_error"),
    "parent outside": (
        lambda b: b["messages"][0].update(parent_id="nowhere"),
        422,
        "validation_error",
    ),
    "head outside": (
        lambda b: b["conversation"].update(head_id="nowhere"),
        422,
        "validation_error",
    ),
    "parent cycle": (
        lambda b: b["messages"][0].update(parent_id=b["messages"][1]["id"]),
        422,
        "validation_error",
    ),
    "id twice": (
        lambda b: b["messages"][1].update(id=b["messages"][0]["id"]),
        422,
        "validation_error",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_bundle_is_refused_whole_and_writes_nothing(app, hub, other, there, case):
    change, status, code = CASES[case]
    bundle = broken(conversation_bundle(hub, app), change)
    before = memory_count(there)
    response = other.test_client().post("/api/v1/import", json=bundle, headers=owner(there))
    assert_error(response, status, code)
    assert memory_count(there) == before


def test_bad_json_wrong_kind_and_bad_relations_of_other_kinds(app, hub, other, there):
    client, headers = other.test_client(), owner(there)
    before = memory_count(there)
    assert_error(
        client.post(
            "/api/v1/import", data="{nope", headers={**headers, "Content-Type": "application/json"}
        ),
        400,
        "invalid_json",
    )
    assert_error(
        client.post(
            "/api/v1/import",
            data='{"neurocache_bundle": 1}\n{oops',
            headers={**headers, "Content-Type": "application/x-ndjson"},
        ),
        400,
        "invalid_json",
    )
    assert_error(
        client.post("/api/v1/import", data="x", headers={**headers, "Content-Type": "text/plain"}),
        415,
    )
    bundle = conversation_bundle(hub, app)
    assert_error(
        client.post("/api/v1/import?kind=channel", json=bundle, headers=headers), 422, "wrong_kind"
    )
    channel = export(app, f"/api/v1/channels/{channel_with_threads(hub).id}/export")
    outside = broken(channel, lambda b: b["messages"][1].update(reply_to="gone"))
    error = assert_error(client.post("/api/v1/import", json=outside, headers=headers), 422)
    assert error["details"]["errors"][0]["field"] == "messages.reply_to"
    agent = hub.agents.create(TEST, name="Lone")
    note = hub.tiers.create(agent.id, TEST, tier="working", content="hm")
    hub.graph.connect(
        TEST, source=note.id, target=bundle["messages"][0]["id"], relation="mentions"
    )  # an edge to a memory no agent bundle holds
    agent_bundle = export(app, f"/api/v1/agents/{agent.id}/export")
    assert agent_bundle["edges"] == []  # only edges among its own memories travel
    dangling = broken(
        agent_bundle,
        lambda b: b["edges"].append(
            {"source": note.id, "target": "elsewhere", "relation": "mentions"}
        ),
    )
    assert_error(client.post("/api/v1/import", json=dangling, headers=headers), 422)
    cycle = broken(
        agent_bundle,
        lambda b: b["edges"].append({"source": note.id, "target": note.id, "relation": "child_of"}),
    )
    assert_error(client.post("/api/v1/import", json=cycle, headers=headers), 422)
    assert memory_count(there) == before


# ---- who may, and the audit log
def test_people_export_only_what_they_may_read(app, hub):
    ada = hub.users.create("ada", TEST)
    bob = hub.users.create("bob", TEST)
    ada_key = bearer(hub.keys.create("ada", ["read", "write", "chat"], TEST, owner=ada.person)[1])
    bob_key = bearer(hub.keys.create("bob", ["read"], TEST, owner=bob.person)[1])
    mine = hub.conversations.create(TEST, title="Ada's", owner=ada.person)
    hub.conversations.add_message(mine.id, "user", "private", parent_id=None)
    private = hub.channels.create(TEST, ada.person, name="ada-only")
    client = app.test_client()
    export(app, f"/api/v1/conversations/{mine.id}/export/bundle", ada_key)
    for path in (
        f"/api/v1/conversations/{mine.id}/export/bundle",
        f"/api/v1/channels/{private.id}/export",
    ):
        assert_error(client.get(path, headers=bob_key), 404)
    lines = client.get("/api/v1/export/chats", headers=bob_key).get_data(as_text=True)
    assert len(lines.splitlines()) == 1  # the header alone
    agent = hub.agents.create(TEST, name="Scout")
    hub.tiers.create(
        agent.id,
        TEST,
        tier="working",
        content="said in Ada's chat",
        metadata={"conversation_id": mine.id},
    )
    hub.tiers.create(agent.id, TEST, tier="long_term", content="shared knowledge")
    seen = export(app, f"/api/v1/agents/{agent.id}/export", bob_key)["memories"]
    assert [m["content"] for m in seen] == ["shared knowledge"]
    assert_error(client.post("/api/v1/import", json={}, headers=bob_key), 403)


def test_imports_are_audited_and_belong_to_whoever_imports(app, hub, other, there):
    bundle = conversation_bundle(hub, app)
    ada = there.users.create("ada", TEST)
    view, secret = there.keys.create("ada", ["read", "write", "chat"], TEST, owner=ada.person)
    answer = import_(other, bundle, bearer(secret))
    new_id = answer["created"][0]["id"]
    assert there.conversations.row(new_id).owner == ada.person
    entries, _ = there.audit.list(action="conversation.import")
    (entry,) = entries
    assert entry.actor == f"key:{view.id}"
    assert entry.target.plain() == {"type": "conversation", "id": new_id}
    assert entry.after["source_id"] == bundle["conversation"]["id"]
    assert entry.after["messages"] == 3


# ---- the command line
def test_the_cli_exports_and_imports(app, hub, runner, tmp_path):
    conversation = conversation_with_branches(hub)
    channel_with_threads(hub)
    assert hub.index_later.wait_idle(60)  # the command's hub loads its embedder alone
    data = ["--data-dir", str(hub.settings.data_dir)]
    target = ["--data-dir", str(tmp_path / "third")]
    single, chats = tmp_path / "fish.json", tmp_path / "chats.jsonl"
    result = runner.invoke(
        main, ["export", "conversation", conversation.id, "-o", str(single), *data]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(single.read_text())["kind"] == "conversation"
    assert runner.invoke(main, ["export", "chats", "-o", str(chats), *data]).exit_code == 0
    assert runner.invoke(main, ["export", "agent", *data]).exit_code == 2  # no ID
    result = runner.invoke(main, ["import", str(single), "--json", *target])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output[result.output.index("{") :])
    assert answer["created"][0]["type"] == "conversation"
    result = runner.invoke(main, ["import", str(chats), *target])
    assert result.exit_code == 0, result.output
    assert "Imported channel 'rivers'" in result.output
    result = runner.invoke(main, ["import", str(chats), "--kind", "agent", *target])
    assert result.exit_code == 1 and "was asked for" in result.output

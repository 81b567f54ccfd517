"""Conversations with a real llama.cpp model (the tiny random GGUF) under the supervisor,
real retrieval (built-in embedder, FTS5, FAISS), over HTTP and Socket.IO."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import threading

import pytest
import requests
import socketio

from neurocache.errors import InvalidInput, NotFound
from neurocache.hub import Hub
from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.chat_model import CHAT_SETTINGS, RIVERS, start_model
from tests.support.hub import assert_error, bearer, start_live_hub
from tests.support.waiting import wait_for


class Events:
    """The hub's `publish`, kept in order; a test may react to an event as it happens."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict, str | None]] = []
        self.on_delta = None

    def __call__(self, event: str, payload: dict, room: str | None = None) -> None:
        self.seen.append((event, payload, room))
        if event == "message.delta" and self.on_delta is not None:
            self.on_delta(payload)

    def of(self, event: str, message_id: str) -> list[dict]:
        return [
            p
            for e, p, _ in self.seen
            if e == event and message_id in (p.get("message_id"), p.get("id"))
        ]


@pytest.fixture(scope="module")
def chat(tmp_path_factory, tiny_chat_model):
    """One hub with the tiny model running, in this process, for the service-level tests."""
    events = Events()
    hub = Hub(Settings(data_dir=tmp_path_factory.mktemp("chat"), **CHAT_SETTINGS), events)
    hub.start_background_work()
    hub.model_id = start_model(hub, tiny_chat_model)
    hub.recorded = events
    hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=Actor("test"))
    assert hub.jobs.wait_idle(60)
    yield hub
    hub.close()


def test_a_question_is_answered_with_the_sources_it_was_given(chat):
    conversation = chat.conversations.create(Actor("test"), title="Fish")
    posted = chat.answers.post(conversation.id, "Where do salmon swim in autumn?", wait=True)
    reply = posted.reply  # random weights: the text may be anything, even empty
    assert reply.status == "complete" and isinstance(reply.content, str)
    assert reply.parent_id == posted.message.id
    (source,) = [s for s in reply.sources if s.title == "Rivers"]
    assert source.number == 1 and "Salmon" in source.quote
    assert source.start == 0 and source.document_id
    stored = chat.conversations.get(conversation.id)
    assert [m.role for m in stored.messages] == ["user", "assistant"]
    assert stored.messages[1].sources == reply.sources
    deltas = "".join(p["delta"] for p in chat.recorded.of("message.delta", reply.id))
    assert deltas == reply.content
    (completed,) = chat.recorded.of("message.completed", reply.id)
    assert completed["content"] == reply.content


def test_the_next_turn_sees_the_history_and_earlier_conversations_are_recalled(chat):
    first = chat.conversations.create(Actor("test"), title="Earlier")
    chat.answers.post(first.id, "My boat is called Lorelei", wait=True)
    second = chat.conversations.create(Actor("test"), title="Later")
    hello = chat.conversations.add_message(second.id, "user", "Hello there", parent_id=None)
    chat.conversations.add_message(second.id, "assistant", "Hi!", parent_id=hello.id)
    chat.answers.post(second.id, "What is my boat called Lorelei?", wait=True)
    conversation = chat.conversations.row(second.id)
    question = chat.conversations.get(second.id).messages[2]
    prompt = chat.answers._prompt(conversation, question, chat.models.chat_backend())
    assert [t.content for t in prompt.history] == ["Hello there", "Hi!"]
    assert "My boat is called Lorelei" in [t.content for t in prompt.recalled]
    assert "Earlier conversations" in prompt.messages[0]["content"]


def test_short_and_long_term_memory_can_be_switched_off(chat):
    conversation = chat.conversations.create(Actor("test"), short_term=False, long_term=False)
    chat.answers.post(conversation.id, "Remember the word zanzibar", wait=True)
    chat.answers.post(conversation.id, "Which word?", wait=True)
    row = chat.conversations.row(conversation.id)
    question = chat.conversations.get(conversation.id).messages[2]
    prompt = chat.answers._prompt(row, question, chat.models.chat_backend())
    assert prompt.history == [] and prompt.recalled == []
    other = chat.conversations.create(Actor("test"))
    chat.answers.post(other.id, "zanzibar", wait=True)
    question = chat.conversations.get(other.id).messages[0]
    prompt = chat.answers._prompt(
        chat.conversations.row(other.id), question, chat.models.chat_backend()
    )
    assert all(
        "zanzibar" not in t.content.lower() or "Remember" not in t.content for t in prompt.recalled
    )  # the switched-off conversation is never recalled


QUESTIONS = [
    "Tell me about rivers",
    "Rivers and salmon?",
    "What of the North Sea?",
    "Basel?",
    "Upstream in autumn?",
    "Europe's rivers?",
]


def midway(chat, conversation_id: str, on_first_delta, recover=lambda: None) -> dict:
    """A reply interrupted at its first piece. Random weights sometimes end a reply within
    a few pieces, before the interruption can tell; then another question is asked."""
    chat.answers.options = dataclasses.replace(short := chat.answers.options, max_reply_tokens=400)
    try:
        for question in QUESTIONS:
            chat.recorded.on_delta = on_first_delta
            reply = chat.answers.post(conversation_id, question, wait=True).reply
            if reply.status != "complete":
                return reply
            recover()
        raise AssertionError("every reply ended at its first piece")
    finally:
        chat.recorded.on_delta = None
        chat.answers.options = short


def test_a_reply_stopped_midway_keeps_its_text(chat):
    conversation = chat.conversations.create(Actor("test"))

    def stop(payload):
        chat.recorded.on_delta = None
        chat.answers.stop(payload["message_id"])

    reply = midway(chat, conversation.id, stop)
    assert reply.status == "stopped"
    deltas = chat.recorded.of("message.delta", reply.id)
    assert len(deltas) == 1 and reply.content == deltas[0]["delta"]


def test_a_model_killed_mid_reply_fails_the_reply_with_the_reason(chat):
    conversation = chat.conversations.create(Actor("test"))
    process = chat.models._processes[chat.model_id]
    killed = []

    def kill(_payload):
        chat.recorded.on_delta = None
        killed.append(process.pid)
        os.killpg(process.pid, signal.SIGKILL)

    def restarted():
        assert wait_for(
            lambda: process.pid not in (None, *killed) and process.state == "running", timeout=60
        )

    reply = midway(chat, conversation.id, kill, restarted)
    assert reply.status == "failed" and "broke off" in reply.error
    assert chat.conversations.message(reply.id).status == "failed"
    restarted()  # the supervisor brought it back


def test_fork_shares_the_history_and_both_go_on(chat):
    conversation = chat.conversations.create(Actor("test"), title="Trunk")
    first = chat.answers.post(conversation.id, "one", wait=True)
    chat.answers.post(conversation.id, "two", wait=True)
    fork = chat.conversations.fork(conversation.id, first.reply.id, Actor("test"))
    assert fork.forked_from == first.reply.id and fork.title == "Trunk (fork)"
    assert fork.messages[0].content == "one"
    assert len(fork.messages) == 2
    chat.answers.post(fork.id, "three", wait=True)
    trunk = chat.conversations.get(conversation.id)
    branch = chat.conversations.get(fork.id)
    assert [m.content for m in trunk.messages if m.role == "user"] == ["one", "two"]
    assert [m.content for m in branch.messages if m.role == "user"] == ["one", "three"]
    # Deleting the trunk leaves the fork whole: the messages it shows move to it.
    chat.conversations.delete(conversation.id, Actor("test"))
    assert [m.content for m in chat.conversations.get(fork.id).messages if m.role == "user"] == [
        "one",
        "three",
    ]


def test_regenerate_adds_a_sibling_and_the_conversation_follows_it(chat):
    conversation = chat.conversations.create(Actor("test"))
    first = chat.answers.post(conversation.id, "Salmon?", wait=True).reply
    again = chat.answers.regenerate(conversation.id, first.id, wait=True).reply
    assert again.parent_id == first.parent_id and again.id != first.id
    messages = chat.conversations.get(conversation.id).messages
    assert [m.id for m in messages] == [first.parent_id, again.id]
    assert chat.conversations.message(first.id).status == "complete"  # still kept


def test_a_regenerate_that_dies_before_its_reply_leaves_the_conversation_as_it_was(
    chat, monkeypatch
):
    """The head moves to the new reply in the reply's own transaction, not before it."""
    conversation = chat.conversations.create(Actor("test"))
    first = chat.answers.post(conversation.id, "Salmon?", wait=True).reply

    def dies(*_args, **_kwargs):
        raise RuntimeError("the store went away")

    monkeypatch.setattr(chat.conversations, "add_message", dies)
    with pytest.raises(RuntimeError):
        chat.answers.regenerate(conversation.id, first.id, wait=True)
    messages = chat.conversations.get(conversation.id).messages
    assert [m.id for m in messages] == [first.parent_id, first.id]


def test_export_as_markdown_and_json(chat):
    conversation = chat.conversations.create(Actor("test"), title="Export me")
    chat.answers.post(conversation.id, "Where do salmon swim?", wait=True)
    markdown, mime = chat.conversations.export(conversation.id, "markdown")
    assert mime.startswith("text/markdown") and markdown.startswith("# Export me")
    assert "**user**" in markdown and "Where do salmon swim?" in markdown
    assert "[1] Rivers" in markdown
    as_json, _ = chat.conversations.export(conversation.id, "json")
    assert json.loads(as_json)["messages"][0]["content"] == "Where do salmon swim?"


def test_a_reply_left_streaming_by_a_crash_is_marked_failed_at_start(chat):
    conversation = chat.conversations.create(Actor("test"))
    message = chat.conversations.add_message(
        conversation.id, "assistant", "half", parent_id=None, status="streaming"
    )
    assert chat.conversations.fail_unfinished() >= 1
    stored = chat.conversations.message(message.id)
    assert stored.status == "failed" and stored.content == "half"
    assert "stopped" in stored.error


# ---- over HTTP and Socket.IO
@pytest.fixture
def live_chat(tmp_path, tiny_chat_model):
    live = start_live_hub(Settings(data_dir=tmp_path / "live", **CHAT_SETTINGS))
    live.headers = bearer(live.hub.owner_token.value)
    yield live
    live.server.stop()


def call(live, method, path, **kwargs):
    return requests.request(method, live.url + path, headers=live.headers, timeout=60, **kwargs)


def test_without_a_running_model_asking_is_a_clear_503_and_stores_nothing(live_chat):
    conversation = call(live_chat, "POST", "/api/v1/conversations", json={}).json()
    error = assert_error(
        call(
            live_chat,
            "POST",
            f"/api/v1/conversations/{conversation['id']}/messages",
            json={"content": "hi"},
        ),
        503,
    )
    assert "no chat model is running" in error["message"] and "start" in error["message"]
    stored = call(live_chat, "GET", f"/api/v1/conversations/{conversation['id']}").json()
    assert stored["messages"] == []


def test_conversations_api_create_list_rename_export_delete(live_chat):
    call(live_chat, "POST", "/api/v1/collections", json={"name": "work"})
    created = call(
        live_chat, "POST", "/api/v1/conversations", json={"title": "Plans", "collections": ["work"]}
    )
    assert created.status_code == 201
    conversation = created.json()
    assert conversation["title"] == "Plans" and len(conversation["collections"]) == 1
    listed = call(live_chat, "GET", "/api/v1/conversations").json()
    assert [c["id"] for c in listed["conversations"]] == [conversation["id"]]
    path = f"/api/v1/conversations/{conversation['id']}"
    renamed = call(live_chat, "PATCH", path, json={"title": "Better plans"}).json()
    assert renamed["title"] == "Better plans"
    assert_error(call(live_chat, "PATCH", path, json={"title": None}), 422)
    assert_error(call(live_chat, "PATCH", path, json={"long_term": None}), 422)
    exported = call(live_chat, "GET", path + "/export?format=markdown")
    assert exported.status_code == 200 and exported.text.startswith("# Better plans")
    assert "attachment" in exported.headers["Content-Disposition"]
    assert call(live_chat, "DELETE", path).status_code == 204
    assert_error(call(live_chat, "GET", path), 404)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/conversations", {"collections": ["nope"]}, 404),
        ("/api/v1/conversations", {"model": "nope"}, 404),
        ("/api/v1/conversations", {"title": 5}, 422),
        ("/api/v1/conversations", {"unknown": 1}, 422),
    ],
)
def test_conversation_input_errors(live_chat, path, body, status):
    assert_error(call(live_chat, "POST", path, json=body), status)


def test_message_errors(live_chat):
    conversation = call(live_chat, "POST", "/api/v1/conversations", json={}).json()
    path = f"/api/v1/conversations/{conversation['id']}"
    assert_error(call(live_chat, "POST", path + "/messages", json={"content": ""}), 422)
    assert_error(
        call(live_chat, "POST", "/api/v1/conversations/nope/messages", json={"content": "hi"}), 404
    )
    assert_error(call(live_chat, "POST", path + "/fork", json={"message_id": "nope"}), 422)
    assert_error(call(live_chat, "POST", path + "/messages/nope/stop"), 404)
    assert_error(call(live_chat, "GET", path + "/export?format=pdf"), 422)
    key = live_chat.key("read", "write")
    assert_error(
        requests.get(live_chat.url + "/api/v1/conversations", timeout=30, headers=bearer(key)), 403
    )


def test_replies_stream_to_socketio_clients_and_two_conversations_stream_at_once(
    live_chat, tiny_chat_model
):
    start_model(live_chat.hub, tiny_chat_model)
    ids = [call(live_chat, "POST", "/api/v1/conversations", json={}).json()["id"] for _ in range(2)]
    received: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    for event in ("message.created", "message.delta", "message.completed"):
        client.on(event, lambda data, event=event: received.put((event, data)))
    client.connect(
        live_chat.url,
        auth={"token": live_chat.hub.owner_token.value},
        transports=["websocket"],
        wait_timeout=5,
    )
    try:
        for conversation_id in ids:
            assert client.call("join", {"room": f"conversation:{conversation_id}"})["ok"]
        replies = {}
        threads = [
            threading.Thread(
                target=lambda c=c: replies.__setitem__(
                    c,
                    call(
                        live_chat,
                        "POST",
                        f"/api/v1/conversations/{c}/messages",
                        json={"content": "rivers and salmon"},
                    ).json()["reply_id"],
                )
            )
            for c in ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deltas: dict[str, list[str]] = {r: [] for r in replies.values()}
        completed: dict[str, dict] = {}
        while len(completed) < 2:
            event, data = received.get(timeout=60)
            if event == "message.delta":
                deltas[data["message_id"]].append(data["delta"])
            elif event == "message.completed":
                completed[data["id"]] = data
    finally:
        client.disconnect()
    for reply_id, message in completed.items():
        assert message["status"] == "complete"
        assert "".join(deltas[reply_id]) == message["content"]


def test_a_fork_of_a_fork_keeps_its_whole_past_when_both_originals_go(chat):
    trunk = chat.conversations.create(Actor("test"))
    first = chat.answers.post(trunk.id, "one", wait=True).reply
    branch = chat.conversations.fork(trunk.id, first.id, Actor("test"))
    second = chat.answers.post(branch.id, "two", wait=True).reply
    twig = chat.conversations.fork(branch.id, second.id, Actor("test"))
    chat.answers.post(twig.id, "three", wait=True)
    chat.conversations.delete(branch.id, Actor("test"))
    chat.conversations.delete(trunk.id, Actor("test"))
    left = chat.conversations.get(twig.id).messages
    assert [m.content for m in left if m.role == "user"] == ["one", "two", "three"]


def test_an_agents_persona_temperature_and_knowledge_shape_the_prompt(chat):
    chat.knowledge.create_collection("whales", "", actor=Actor("test"))
    chat.knowledge.add_text(
        title="Moby",
        body="The white whale swims in the Pacific.",
        fmt="text",
        actor=Actor("test"),
        collection="whales",
    )
    assert chat.jobs.wait_idle(60)
    agent = chat.agents.create(
        Actor("test"),
        name="Ahab",
        persona="You are Captain Ahab.",
        temperature=0.1,
        collections=["whales"],
    )
    conversation = chat.conversations.create(Actor("test"), agent_id=agent.id)
    posted = chat.answers.post(conversation.id, "Where do salmon and whales swim?", wait=True)
    assert [s.title for s in posted.reply.sources] == ["Moby"]  # its collection
    question = chat.conversations.get(conversation.id).messages[0]
    prompt = chat.answers._prompt(
        chat.conversations.row(conversation.id), question, chat.models.chat_backend()
    )
    assert prompt.messages[0]["content"].startswith("You are Captain Ahab.\n\nYou are Neurocache")
    assert prompt.temperature == 0.1
    with pytest.raises(NotFound):
        chat.conversations.create(Actor("test"), agent_id="nope")


def test_an_agents_conversation_goes_into_its_working_memory(chat):
    """The answerer publishes `reply.finished`; the hub's subscriber keeps the exchange in
    the agent's working memory."""
    agent = chat.agents.create(Actor("test"), name="Ishmael", persona="You tell stories.")
    conversation = chat.conversations.create(Actor("test"), agent_id=agent.id)
    posted = chat.answers.post(conversation.id, "Call me what?", wait=True)
    assert posted.reply.status == "complete"
    working, _cursor = chat.tiers.list(agent.id, tiers=["working"])
    assert len(working) == 1 and "Call me what?" in working[0].content
    assert working[0].metadata["conversation_id"] == conversation.id


def test_a_conversation_made_without_a_title_is_named_after_its_first_question(chat):
    untitled = chat.conversations.create(Actor("test"))
    assert untitled.title == "New conversation"
    chat.answers.post(untitled.id, "Where do salmon swim in autumn?\nAnd why?", wait=True)
    assert chat.conversations.get(untitled.id).title == "Where do salmon swim in autumn?"
    chat.answers.post(untitled.id, "Another question", wait=True)  # only the first names it
    assert chat.conversations.get(untitled.id).title == "Where do salmon swim in autumn?"
    named = chat.conversations.create(Actor("test"), title="Fish")
    chat.answers.post(named.id, "x " * 100, wait=True)
    assert chat.conversations.get(named.id).title == "Fish"  # a title given stays
    long = chat.conversations.create(Actor("test"))
    chat.answers.post(long.id, "word " * 40, wait=True)
    title = chat.conversations.get(long.id).title
    assert title.endswith("…") and len(title) <= 61 and not title.endswith(" …")


def test_regenerated_replies_are_siblings_and_either_branch_can_be_shown(chat):
    conversation = chat.conversations.create(Actor("test"))
    first = chat.answers.post(conversation.id, "Salmon?", wait=True).reply
    again = chat.answers.regenerate(conversation.id, first.id, wait=True).reply
    shown = chat.conversations.get(conversation.id).messages
    assert [m.id for m in shown] == [first.parent_id, again.id]
    assert shown[1].siblings == [first.id, again.id] and shown[0].siblings == []
    back = chat.conversations.show_branch(conversation.id, first.id, Actor("test"))
    assert [m.id for m in back.messages] == [first.parent_id, first.id]
    chat.answers.post(conversation.id, "And eels?", wait=True)  # goes on from the first
    messages = chat.conversations.get(conversation.id).messages
    assert [m.content for m in messages if m.role == "user"] == ["Salmon?", "And eels?"]
    assert messages[1].id == first.id
    # the other branch's newest message becomes the head again
    again_branch = chat.conversations.show_branch(conversation.id, again.id, Actor("test"))
    assert again_branch.messages[-1].id == again.id
    with pytest.raises(InvalidInput):
        chat.conversations.show_branch(conversation.id, "nope", Actor("test"))


def test_showing_a_branch_through_the_api(live_chat, tiny_chat_model):
    start_model(live_chat.hub, tiny_chat_model)
    conversation = call(live_chat, "POST", "/api/v1/conversations", json={}).json()
    path = f"/api/v1/conversations/{conversation['id']}"
    posted = call(live_chat, "POST", f"{path}/messages", json={"content": "Hi", "wait": True})
    reply = posted.json()["reply"]
    call(live_chat, "POST", f"{path}/messages/{reply['id']}/regenerate", json={"wait": True})
    shown = call(live_chat, "POST", f"{path}/branch", json={"message_id": reply["id"]}).json()
    assert (
        shown["messages"][-1]["id"] == reply["id"] and len(shown["messages"][-1]["siblings"]) == 2
    )

"""Agents in channels with a real llama.cpp model under the supervisor: the "parrot" GGUF
(tests/support/tiny_gguf.py) answers everything with `@alpha @beta @alpha …`, so agents
named Alpha and Beta call on each other in every reply, as chatty agents would."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.chat_model import start_model
from tests.support.hub import assert_error, bearer, start_live_hub
from tests.support.sockets import Member
from tests.support.tiny_gguf import write_parrot_llama
from tests.support.waiting import wait_for

SETTINGS = {
    "chat_max_reply_tokens": 16,
    "chat_temperature": 0.0,
    "model_health_interval_s": 0.2,
    "channel_agent_turns": 3,
}


@pytest.fixture(scope="module")
def parrot_hub(tmp_path_factory):
    live = start_live_hub(Settings(data_dir=tmp_path_factory.mktemp("agents"), **SETTINGS))
    model = write_parrot_llama(tmp_path_factory.mktemp("models") / "parrot.gguf")
    start_model(live.hub, model)
    live.owner = bearer(live.hub.owner_token.value)
    for name, text in (
        ("ships", "The reef lies two miles north of the harbour lighthouse."),
        ("birds", "Puffins nest on the cliffs of the northern islands."),
    ):
        live.post("/api/v1/collections", json={"name": name}, headers=live.owner)
        live.post(
            "/api/v1/documents",
            json={"title": name, "text": text, "collection": name},
            headers=live.owner,
        )
    assert live.hub.jobs.wait_idle(60)
    yield live
    live.server.stop()


def call(live, method, path, body=None, status=200):
    response = requests.request(method, live.url + path, json=body, headers=live.owner, timeout=60)
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def agent(live, name, **fields) -> dict:
    return call(live, "POST", "/api/v1/agents", {"name": name, **fields}, 201)


def channel_with(live, name, *members: tuple[dict, str]) -> dict:
    channel = call(live, "POST", "/api/v1/channels", {"name": name}, 201)
    for member, mode in members:
        call(
            live,
            "POST",
            f"/api/v1/channels/{channel['id']}/members",
            {"agent_id": member["id"], "mode": mode},
            201,
        )
    return channel


def settled(live, channel_id, count: int, quiet_s: float = 1.0) -> list[dict]:
    """The channel's messages once `count` are there, all finished, and nothing more comes."""
    path = f"/api/v1/channels/{channel_id}/messages"

    def done():
        messages = call(live, "GET", path)["messages"]
        return len(messages) >= count and all(m["status"] != "streaming" for m in messages)

    assert wait_for(done, timeout=60), (
        [
            (m["seq"], m["author"][-4:], m["status"], m["content"][:15])
            for m in call(live, "GET", path)["messages"]
        ],
        [
            (m["seq"], m["author"][-4:], m["status"], m["content"][:15])
            for m in live.hub.channel_messages._load(channel_id, None, None, 50, None)
        ],
    )
    time.sleep(quiet_s)
    return call(live, "GET", path)["messages"]


def test_a_mentioned_agent_answers_from_its_knowledge_and_remembers(parrot_hub):
    alpha = agent(parrot_hub, "Alpha", collections=["ships"], persona="A harbour pilot.")
    channel = channel_with(parrot_hub, "harbour", (alpha, "mention"))
    watcher = Member(parrot_hub.url, parrot_hub.hub.owner_token.value)
    try:
        watcher.join(channel["room"]), watcher.join(f"agent:{alpha['id']}")
        posted = call(
            parrot_hub,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            {"content": "@alpha where is the reef?", "wait": True},
        )
        assert posted["message"]["mentions"] == [f"agent:{alpha['id']}"]
        [reply] = posted["replies"]
        assert reply["author"] == f"agent:{alpha['id']}" and reply["author_name"] == "Alpha"
        assert reply["status"] == "complete" and "@beta" in reply["content"]
        assert any("reef" in s["quote"] for s in reply["sources"])  # its own collection
        # the room saw it happen: typing, the reply streamed, then completed
        assert watcher.next("typing") == {
            "channel_id": channel["id"],
            "member": f"agent:{alpha['id']}",
            "name": "Alpha",
            "typing": True,
        }
        streamed = ""
        while (delta := watcher.next("message.delta"))["message_id"] == reply["id"]:
            streamed += delta["delta"]
            if streamed == reply["content"]:
                break
        assert streamed == reply["content"]
        assert watcher.next("message.completed")["id"] == reply["id"]
        remembered = watcher.next("memory.updated")  # its working memory of the turn
        assert remembered["action"] == "created" and remembered["agent_id"] == alpha["id"]
        assert remembered["memory"]["tier"] == "working"
        assert "where is the reef?" in remembered["memory"]["content"]
        assert watcher.next("typing")["typing"] is False
    finally:
        watcher.close()


def test_agents_answer_each_other_in_turn_and_stop_at_the_bound(parrot_hub):
    alpha, beta = agent(parrot_hub, "Alpha"), agent(parrot_hub, "Beta")
    channel = channel_with(parrot_hub, "chatter", (alpha, "mention"), (beta, "mention"))
    watcher = Member(parrot_hub.url, parrot_hub.hub.owner_token.value)
    try:
        watcher.join(channel["room"])
        call(
            parrot_hub,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            {"content": "@alpha start"},
            201,
        )
        messages = settled(parrot_hub, channel["id"], 1 + 3, quiet_s=1.5)
        authors = [m["author"] for m in messages[1:]]
        assert authors == [
            f"agent:{alpha['id']}",
            f"agent:{beta['id']}",
            f"agent:{alpha['id']}",
        ]  # channel_agent_turns = 3, then quiet
        events = [
            (e, d) for e, d in watcher.drain() if e in ("message.created", "message.completed")
        ]
        writing = None
        for event, data in events:  # never two agents writing at once
            if event == "message.created" and data["status"] == "streaming":
                assert writing is None, "an agent began while another was writing"
                writing = data["id"]
            elif event == "message.completed":
                assert data["id"] == writing
                writing = None
        # a person's next message sets off a new round
        call(
            parrot_hub,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            {"content": "@beta again"},
            201,
        )
        assert len(settled(parrot_hub, channel["id"], 8)) == 8
    finally:
        watcher.close()


def test_auto_agents_answer_people_not_other_agents(parrot_hub):
    alpha = agent(parrot_hub, "Alpha")
    gamma = agent(parrot_hub, "Gamma")  # never mentioned by the parrot
    channel = channel_with(parrot_hub, "auto", (alpha, "mention"), (gamma, "auto"))
    call(
        parrot_hub,
        "POST",
        f"/api/v1/channels/{channel['id']}/messages",
        {"content": "@alpha hello"},
        201,
    )
    messages = settled(parrot_hub, channel["id"], 4)
    authors = [m["author"].removeprefix("agent:") for m in messages[1:]]
    # Alpha (mentioned), Gamma (auto, to the person), Alpha again (Gamma said "@alpha");
    # Gamma does not answer Alpha's replies.
    assert authors == [alpha["id"], gamma["id"], alpha["id"]]


def test_an_agent_whose_model_is_not_running_says_so(parrot_hub, tmp_path):
    copy = write_parrot_llama(tmp_path / "idle-parrot.gguf")
    idle = parrot_hub.hub.models.register_local(str(copy), Actor("test")).id
    lost = agent(parrot_hub, "Lost", model=idle)
    channel = channel_with(parrot_hub, "lost", (lost, "auto"))
    posted = call(
        parrot_hub,
        "POST",
        f"/api/v1/channels/{channel['id']}/messages",
        {"content": "anyone?", "wait": True},
    )
    [reply] = posted["replies"]
    assert reply["status"] == "failed" and "not running" in reply["error"]
    query = requests.post(
        f"{parrot_hub.url}/api/v1/channels/{channel['id']}/query",
        json={"question": "anyone?"},
        headers=parrot_hub.owner,
        timeout=10,
    )
    assert_error(query, 503)


def test_the_channel_query_combines_every_agents_knowledge(parrot_hub):
    alpha = agent(parrot_hub, "Alpha", collections=["ships"])
    beta = agent(parrot_hub, "Beta", collections=["birds"])
    call(
        parrot_hub,
        "POST",
        f"/api/v1/agents/{beta['id']}/memories",
        {"tier": "long_term", "content": "The puffin colony moved north in spring."},
        201,
    )
    channel = channel_with(parrot_hub, "council", (alpha, "mention"), (beta, "mention"))
    answer = call(
        parrot_hub,
        "POST",
        f"/api/v1/channels/{channel['id']}/query",
        {"question": "What lives in the north, the reef or the puffins?"},
    )
    assert [a["agent_id"] for a in answer["answers"]] == [alpha["id"], beta["id"]]
    alpha_quotes = [s["quote"] for s in answer["answers"][0]["sources"]]
    beta_quotes = [s["quote"] for s in answer["answers"][1]["sources"]]
    assert any("reef" in q for q in alpha_quotes) and not any("Puffins" in q for q in alpha_quotes)
    assert any("Puffins nest" in q for q in beta_quotes)
    assert any("colony moved" in q for q in beta_quotes)  # its own memory
    combined = [s["quote"] for s in answer["sources"]]
    assert set(alpha_quotes) | set(beta_quotes) == set(combined)
    assert [s["number"] for s in answer["sources"]] == list(range(1, len(combined) + 1))
    assert answer["answer"]  # the parrot always says something
    # each agent remembers the question it answered
    for member in (alpha, beta):
        working = call(parrot_hub, "GET", f"/api/v1/agents/{member['id']}/memories?tier=working")[
            "memories"
        ]
        assert any("reef or the puffins" in m["content"] for m in working)


def test_a_channel_query_kept_in_the_channel_streams_each_answer_into_its_thread(parrot_hub):
    alpha = agent(parrot_hub, "Alpha", collections=["ships"])
    beta = agent(parrot_hub, "Beta", collections=["birds"])
    channel = channel_with(parrot_hub, "moot", (alpha, "auto"), (beta, "mention"))
    watcher = Member(parrot_hub.url, parrot_hub.hub.owner_token.value)
    try:
        watcher.join(channel["room"])
        answer = call(
            parrot_hub,
            "POST",
            f"/api/v1/channels/{channel['id']}/query",
            {"question": "Where is the reef?", "post": True},
        )
        events = watcher.drain()
    finally:
        watcher.close()
    messages = settled(parrot_hub, channel["id"], 4)
    question, *replies = messages
    assert question["id"] == answer["message_id"] and question["author"] == "owner"
    assert question["content"] == "Where is the reef?"
    # Alpha, Beta, then the combined answer, written by the first agent's model
    assert [m["author"] for m in replies] == [f"agent:{a['id']}" for a in (alpha, beta, alpha)]
    assert all(m["reply_to"] == question["id"] and m["status"] == "complete" for m in replies)
    assert [m["content"] for m in replies] == [
        *(a["answer"] for a in answer["answers"]),
        answer["answer"],
    ]
    assert any("reef" in s["quote"] for s in replies[0]["sources"])
    streamed = {e["message_id"] for name, e in events if name == "message.delta"}
    assert streamed == {m["id"] for m in replies}
    # kept whole, no agent answered the posted question again (Alpha is in `auto` mode)
    time.sleep(1.0)
    assert (
        len(call(parrot_hub, "GET", f"/api/v1/channels/{channel['id']}/messages")["messages"]) == 4
    )


def test_a_conversation_with_an_agent_writes_its_working_memory(parrot_hub):
    alpha = agent(parrot_hub, "Alpha")
    conversation = call(parrot_hub, "POST", "/api/v1/conversations", {"agent_id": alpha["id"]}, 201)
    posted = call(
        parrot_hub,
        "POST",
        f"/api/v1/conversations/{conversation['id']}/messages",
        {"content": "Remember the blue door", "wait": True},
    )
    assert posted["reply"]["status"] == "complete", posted["reply"]
    working = call(parrot_hub, "GET", f"/api/v1/agents/{alpha['id']}/memories")["memories"]
    assert [m["tier"] for m in working] == ["working"]
    assert "Remember the blue door" in working[0]["content"]


def test_consolidation_summarizes_with_the_agents_model(parrot_hub):
    alpha = agent(parrot_hub, "Alpha")
    for note in ("Met Ada at the pier", "Ada wants a map of the reef"):
        call(
            parrot_hub,
            "POST",
            f"/api/v1/agents/{alpha['id']}/memories",
            {"tier": "working", "content": note},
            201,
        )
    done = call(
        parrot_hub, "POST", f"/api/v1/agents/{alpha['id']}/consolidate", {"older_than_s": 0}
    )
    assert done["archived"] == 2 and len(done["summaries"]) == 1
    summary = call(
        parrot_hub, "GET", f"/api/v1/agents/{alpha['id']}/memories/{done['summaries'][0]}"
    )
    assert summary["tier"] == "long_term" and summary["metadata"]["by_model"] is True
    assert "@alpha" in summary["content"]  # the parrot wrote it


def test_replies_are_not_cut_short_by_health_checks_or_other_requests(parrot_hub):
    """llama-cpp-python's server ends a streaming reply when any other request comes in,
    unless told not to: replies came back empty or cut whenever a health check landed."""
    client = parrot_hub.hub.models.chat_backend().client
    question = [{"role": "user", "content": "talk"}]
    lengths, health_ms = [], []

    def long_reply():
        chunks = list(client.chat_stream(question, max_tokens=1500, temperature=0.0))
        lengths.append(
            sum(1 for c in chunks if (c["choices"][0].get("delta") or {}).get("content"))
        )

    writers = [threading.Thread(target=long_reply) for _ in range(2)]
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        started = time.perf_counter()
        client.health(timeout_s=5)
        health_ms.append(1000 * (time.perf_counter() - started))
        time.sleep(0.02)
    assert lengths == [1500, 1500]  # both whole: the second waited its turn
    assert max(health_ms) < 1000, health_ms  # and the health check never waited on them


def test_an_agents_reply_can_be_stopped_midway_and_keeps_its_text(parrot_hub):
    scout = agent(parrot_hub, "Stopper")
    channel = channel_with(parrot_hub, "stop-here", (scout, "auto"))
    stopped: list[dict] = []

    def stop_at_first_words(event):
        # on the replying thread: the stop lands before the next words
        if event.payload.get("channel_id") == channel["id"] and not stopped:
            path = f"/api/v1/channels/{channel['id']}/messages/{event.payload['message_id']}"
            stopped.append(call(parrot_hub, "POST", f"{path}/stop"))

    unsubscribe = parrot_hub.hub.events.subscribe("message.delta", stop_at_first_words)
    try:
        call(
            parrot_hub,
            "POST",
            f"/api/v1/channels/{channel['id']}/messages",
            {"content": "Say a lot", "wait": True},
        )
    finally:
        unsubscribe()
    reply = call(parrot_hub, "GET", f"/api/v1/channels/{channel['id']}/messages/{stopped[0]['id']}")
    assert reply["status"] == "stopped" and reply["content"]  # what it wrote is kept
    person = call(parrot_hub, "GET", f"/api/v1/channels/{channel['id']}/messages")["messages"][0]
    assert_error(
        requests.post(
            f"{parrot_hub.url}/api/v1/channels/{channel['id']}/messages/{person['id']}/stop",
            headers=parrot_hub.owner,
            timeout=10,
        ),
        422,
    )

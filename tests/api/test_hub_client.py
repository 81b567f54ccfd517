"""`neurocache.client.HubClient` against a real hub on a loopback port (and, injected, the
same app in-process): typed calls, and the hub's refusals as `HubError` with its body."""

from __future__ import annotations

import threading
import time

import pytest
import socketio

from neurocache.client import HubClient, HubError
from neurocache.llm.supervisor import free_port
from neurocache.settings import Settings
from tests.support.chat_model import CHAT_SETTINGS, RIVERS, start_model
from tests.support.hub import make_key, start_live_hub


@pytest.fixture
def writer(live_hub):
    with HubClient(live_hub.url, live_hub.key("read", "write", "chat")) as client:
        yield client


def test_a_text_added_is_found_by_search_once_indexed(writer):
    accepted = writer.add_text(
        "The lighthouse keeper paints the railings green every April.", title="keeper"
    )
    document = writer.wait_indexed(accepted["document"]["id"])
    assert document["status"] == "indexed" and document["title"] == "keeper"
    results = writer.search("what colour are the railings painted", k=3)
    assert results and "railings green" in results[0]["text"]
    assert writer.document(document["id"])["id"] == document["id"]
    assert any(d["id"] == document["id"] for d in writer.documents())


def test_a_memory_remembered_is_the_newest_and_can_be_forgotten(writer):
    older = writer.remember("The tide tables are in the blue folder.", kind="fact")
    note = writer.remember("Call the harbour master on Tuesday.", metadata={"topic": "calls"})
    assert [m["id"] for m in writer.recent(limit=2)] == [note["id"], older["id"]]
    assert [m["id"] for m in writer.recent(kinds=["fact"])] == [older["id"]]
    assert writer.memory(note["id"])["metadata"] == {"topic": "calls"}
    writer.forget(note["id"])
    with pytest.raises(HubError) as gone:
        writer.memory(note["id"])
    assert (gone.value.status, gone.value.code) == (404, "not_found")
    assert gone.value.body["error"]["message"] == gone.value.message


def test_a_thread_lists_its_turns(writer):
    for n, speaker in enumerate(("ana", "ben")):
        writer.remember(
            f"turn {n}", kind="chat_turn", metadata={"thread": "t-1", "speaker": speaker}
        )
    writer.remember("elsewhere", kind="chat_turn", metadata={"thread": "t-2"})
    assert [m["content"] for m in writer.recent(thread="t-1")] == ["turn 1", "turn 0"]


def test_a_refusal_carries_the_hubs_error_body(live_hub):
    reader = HubClient(live_hub.url, live_hub.key("read"))
    with reader, pytest.raises(HubError) as refused:
        reader.remember("not allowed")
    assert refused.value.status == 403 and refused.value.code == "forbidden"
    assert "write" in refused.value.message
    with HubClient(live_hub.url) as nobody, pytest.raises(HubError) as unsigned:
        nobody.collections()
    assert unsigned.value.code == "unauthorized"


def test_bad_input_is_the_hubs_validation_error(writer):
    with pytest.raises(HubError) as refused:
        writer.search("", k=3)
    assert refused.value.status == 422 and refused.value.code == "validation_error"
    assert refused.value.details


def test_a_hub_that_does_not_answer_is_unavailable():
    client = HubClient(f"http://127.0.0.1:{free_port()}", "nc_x")
    with client, pytest.raises(HubError) as down:
        client.health()
    assert (down.value.status, down.value.code) == (503, "unavailable")


def test_collections_conversations_channels_and_models(writer):
    collection = writer.create_collection("harbour", "notes on the harbour")
    assert any(c["id"] == collection["id"] for c in writer.collections())
    writer.add_text("Moorings are free in winter.", collection="harbour")
    assert [d["collection_id"] for d in writer.documents(collection="harbour")] == [
        collection["id"]
    ]
    conversation = writer.start_conversation("moorings", collections=["harbour"])
    assert writer.conversation(conversation["id"])["title"] == "moorings"
    assert any(c["id"] == conversation["id"] for c in writer.conversations())
    channel = writer.create_channel("quay")
    posted = writer.post(channel["id"], "the ferry is late")["message"]
    assert [m["id"] for m in writer.messages(channel["id"])] == [posted["id"]]
    assert {m["role"] for m in writer.models()} >= {"chat", "embedding"}


def test_the_same_calls_reach_an_app_in_process_without_a_socket(app, hub):
    key = make_key(hub, "read", "write")
    with HubClient.in_process(app, key) as client:
        made = client.create_collection("in-process")
        assert made["name"] == "in-process"
        assert client.health()["status"] == "ok"
        with pytest.raises(HubError) as refused:
            client.create_collection("in-process")
    assert refused.value.status == 409


def test_events_come_live_from_publish_and_from_a_socketio_publisher(live_hub):
    hub = HubClient(live_hub.url, live_hub.key("read", "write"))
    got: list[dict] = []
    listening = threading.Thread(
        target=lambda: got.extend(hub.events(["harbour", "quay"], timeout_s=3))
    )
    listening.start()
    time.sleep(0.5)  # subscribed once the socket is open
    hub.publish("harbour", "the ferry is late", {"minutes": 20})
    publisher = socketio.SimpleClient()
    publisher.connect(live_hub.url, auth={"token": live_hub.key("read", "write")})
    publisher.call("publish", {"channel": "quay", "content": "crane at work"})
    publisher.disconnect()
    listening.join()
    assert [(e["channel"], e["content"]) for e in got] == [
        ("harbour", "the ferry is late"),
        ("quay", "crane at work"),
    ]
    assert got[0]["metadata"] == {"minutes": 20}


def test_publishing_needs_write_and_events_a_key(live_hub):
    reader = HubClient(live_hub.url, live_hub.key("read"))
    with pytest.raises(HubError) as refused:
        reader.publish("harbour", "no")
    assert refused.value.code == "forbidden" and "write" in refused.value.message
    with pytest.raises(HubError) as unsigned:
        list(HubClient(live_hub.url).events(["harbour"], timeout_s=1))
    assert (unsigned.value.status, unsigned.value.code) == (401, "unauthorized")


def test_answers_come_whole_streamed_and_in_a_conversation(tmp_path, tiny_chat_model):
    live = start_live_hub(Settings(data_dir=tmp_path / "chat", **CHAT_SETTINGS))
    try:
        start_model(live.hub, tiny_chat_model)
        hub = HubClient(live.url, live.key("read", "write", "chat"))
        hub.wait_indexed(hub.add_text(RIVERS, title="rivers")["document"]["id"])
        answer = hub.ask("Where do salmon return each autumn?", max_tokens=8)
        assert isinstance(answer["answer"], str) and answer["model"]
        assert [s["title"] for s in answer["sources"]] == ["rivers"]
        chunks = list(hub.ask_stream("Which river flows through Basel?", max_tokens=8))
        assert chunks[-1]["neurocache"]["sources"][0]["title"] == "rivers"
        conversation = hub.start_conversation("rivers")
        said = hub.say(conversation["id"], "Which sea does the Rhine reach?")
        assert said["reply"]["status"] == "complete" and said["reply"]["role"] == "assistant"
        assert len(hub.conversation(conversation["id"])["messages"]) == 2
    finally:
        live.server.stop()

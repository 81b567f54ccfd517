"""Chat histories from elsewhere: ChatGPT's conversations.json export and JSONL of turns,
through `POST /api/v1/import` and `neurocache import`; the same file twice makes nothing
new, and the turns are threads the search finds."""

from __future__ import annotations

import json

from neurocache.cli.main import main
from neurocache.hub import Hub
from neurocache.settings import Settings
from tests.support.hub import assert_error, start_live_hub


def node(node_id, parent, role, text, at, children=(), **message):
    content = {"content_type": "text", "parts": [text]} if isinstance(text, str) else text
    return node_id, {
        "id": node_id,
        "parent": parent,
        "children": list(children),
        "message": None
        if role is None
        else {
            "id": node_id,
            "author": {"role": role},
            "create_time": at,
            "content": content,
            **message,
        },
    }


def chatgpt_export() -> list[dict]:
    """Shaped as ChatGPT's export is: a tree of nodes per conversation; a regenerated
    answer is a second branch, `current_node` names the one last shown."""
    mapping = dict(
        [
            node("root", None, None, "", None, ["sys"]),
            node("sys", "root", "system", "You are ChatGPT.", 1700000000.0, ["u1"]),
            node(
                "u1",
                "sys",
                "user",
                "Which plants like a north-facing balcony?",
                1700000001.0,
                ["a1", "a1b"],
            ),
            node("a1", "u1", "assistant", "Ferns and begonias do well in shade.", 1700000002.0),
            node(
                "a1b",
                "u1",
                "assistant",
                "Hostas, ferns and fuchsias thrive with little sun.",
                1700000003.0,
                ["t1"],
            ),
            node("t1", "a1b", "tool", "search results...", 1700000004.0, ["u2"]),
            node(
                "u2",
                "t1",
                "user",
                {
                    "content_type": "multimodal_text",
                    "parts": [{"asset_pointer": "file-1"}, "And for herbs?"],
                },
                1700000005.0,
                ["h1"],
            ),
            node(
                "h1",
                "u2",
                "assistant",
                "hidden",
                1700000006.0,
                ["a2"],
                metadata={"is_visually_hidden_from_conversation": True},
            ),
            node("a2", "h1", "assistant", "Mint and parsley cope with shade.", 1700000007.0),
        ]
    )
    return [
        {
            "title": "Balcony plants",
            "create_time": 1700000000.0,
            "mapping": mapping,
            "current_node": "a2",
            "conversation_id": "conv-1",
            "id": "conv-1",
        }
    ]


TURNS = [
    {
        "thread": "dinner-2024-03-02",
        "speaker": "Ada",
        "at": "2024-03-02T19:00:00Z",
        "content": "I finally tried the Georgian khachapuri recipe.",
    },
    {
        "thread": "dinner-2024-03-02",
        "speaker": "Bo",
        "at": "2024-03-02T19:01:00Z",
        "content": "Was the cheese bread as good as in Tbilisi?",
    },
]


def test_a_chatgpt_export_becomes_threads_of_turns_once(client, hub, owner):
    raw = json.dumps(chatgpt_export())
    first = client.post("/api/v1/import", data=raw, headers=owner, content_type="application/json")
    assert first.status_code == 201, first.json
    assert first.json == {
        "format": "chatgpt",
        "threads": 1,
        "turns": 4,
        "created": 4,
        "unchanged": 0,
    }
    again = client.post(
        "/api/v1/import", data=raw, headers=owner, content_type="application/json"
    ).json
    assert (again["created"], again["unchanged"]) == (0, 4)
    found = client.post(
        "/api/v1/search",
        headers=owner,
        json={"query": "ferns shade plants herbs", "mode": "fulltext", "k": 10, "context": True},
    ).json["results"]
    texts = [r["text"] for r in found]
    assert "Hostas, ferns and fuchsias thrive with little sun." in texts  # the branch shown
    assert "Ferns and begonias do well in shade." not in texts  # the one replaced
    assert not any("hidden" in t or "ChatGPT" in t for t in texts)
    mint = next(r for r in found if r["text"].startswith("Mint"))
    assert mint["context"][0]["text"] == "And for herbs?"  # what it answered


def test_jsonl_turns_through_the_cli_with_progress_and_again(runner, tmp_path):
    history = tmp_path / "chats.jsonl"
    history.write_text("".join(json.dumps(t) + "\n" for t in TURNS))
    data = ["--data-dir", str(tmp_path / "d")]
    first = runner.invoke(main, ["import", str(history), *data])
    assert first.exit_code == 0, first.output
    assert "Imported 2 turns of 1 threads: 2 new, 0 already here." in first.output
    history.write_text(
        "".join(
            json.dumps(t) + "\n"
            for t in [
                *TURNS,
                {
                    **TURNS[0],
                    "at": "2024-03-02T19:02:00Z",
                    "content": "Almost! Next time, more egg.",
                },
            ]
        )
    )
    grown = runner.invoke(main, ["import", str(history), *data])
    assert "Imported 3 turns of 1 threads: 1 new, 2 already here." in grown.output
    hub = Hub(Settings(data_dir=tmp_path / "d"))
    try:
        hits = hub.search.search("Georgian cheese bread", mode="hybrid", k=3)
        assert hits[0].text in {t["content"] for t in TURNS}
    finally:
        hub.close()


def test_the_cli_goes_through_a_running_hub(runner, tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    live = start_live_hub(settings)
    live.server.announce(settings.data_dir)
    try:
        history = tmp_path / "conversations.json"
        history.write_text(json.dumps(chatgpt_export()))
        result = runner.invoke(main, ["import", str(history), "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 0, result.output
        assert "4 new" in result.output
        assert live.hub.search.search("herbs", mode="fulltext")
    finally:
        live.server.stop()


def test_a_bad_history_says_where(client, owner):
    error = assert_error(
        client.post(
            "/api/v1/import",
            headers=owner,
            data='{"content": "ok"}\n{"content": 5}\n',
            content_type="application/x-ndjson",
        ),
        422,
    )
    assert "line 2" in error["message"]

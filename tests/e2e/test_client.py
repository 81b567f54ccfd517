"""The OpenAI-compatible client against a real model server (the tiny GGUF)."""

from __future__ import annotations

import os
import subprocess

import pytest

from neurocache.llm.client import BackendError, BackendUnavailable, OpenAIClient, parse_sse
from neurocache.llm.processes import self_command
from neurocache.llm.supervisor import free_port
from tests.support.tiny_gguf import write_tiny_llama
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = write_tiny_llama(tmp_path_factory.mktemp("m") / "tiny.gguf")
    port = free_port()
    process = subprocess.Popen(
        [
            *self_command(),
            "model-server",
            "--model",
            str(model),
            "--port",
            str(port),
            "--n-ctx",
            "256",
            "--embedding",
            "--parent-pid",
            str(os.getpid()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = OpenAIClient(f"http://127.0.0.1:{port}")

    def ready() -> bool:
        try:
            return bool(client.models(timeout_s=1))
        except BackendUnavailable:
            return False

    assert wait_for(ready)
    yield client
    process.terminate()
    process.wait(10)


def test_chat_streams_deltas_that_add_up_to_the_reply(server):
    messages = [{"role": "user", "content": "tell me about the memory hub"}]
    whole = server.chat(messages, max_tokens=12, temperature=0)["choices"][0]["message"]
    chunks = list(server.chat_stream(messages, max_tokens=12, temperature=0))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["content"] and len(chunks) > 3


def test_embeddings_come_back_in_order(server):
    vectors = server.embeddings(["one", "two", "three"])
    assert len(vectors) == 3 and len(vectors[0]) == 64
    assert vectors[0] != vectors[1]


def test_errors_become_ours(server):
    with pytest.raises(BackendError) as answered:
        server._call("POST", "/chat/completions", json={"messages": "not a list"})
    assert answered.value.status == 502 and answered.value.details["status"] >= 400
    assert answered.value.details["body"]  # what the server said, kept for the user
    with pytest.raises(BackendUnavailable):
        OpenAIClient("http://127.0.0.1:9", connect_timeout_s=1).models()


def test_sse_parsing():
    lines = [
        "",
        ": comment",
        'data: {"a": 1}',
        "event: x",
        'data: {"b": 2}',
        "data: [DONE]",
        'data: {"never": true}',
    ]
    assert list(parse_sse(iter(lines))) == [{"a": 1}, {"b": 2}]
    with pytest.raises(BackendError, match="malformed"):
        list(parse_sse(iter(["data: {oops"])))
    with pytest.raises(BackendUnavailable, match="before \\[DONE\\]"):  # cut off
        list(parse_sse(iter(['data: {"a": 1}'])))

"""The OpenAI-compatible API, driven by the official `openai` client against a live hub
running the tiny GGUF model under the supervisor."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
import requests

from neurocache.settings import Settings
from neurocache.store.audit import Actor
from tests.support.chat_model import CHAT_SETTINGS, RIVERS, start_model
from tests.support.hub import start_live_hub


@pytest.fixture(scope="module")
def live(tmp_path_factory, tiny_chat_model):
    hub = start_live_hub(Settings(data_dir=tmp_path_factory.mktemp("openai"), **CHAT_SETTINGS))
    hub.model_id = start_model(hub.hub, tiny_chat_model)
    hub.hub.knowledge.add_text(title="Rivers", body=RIVERS, fmt="text", actor=Actor("test"))
    assert hub.hub.jobs.wait_idle(60)
    yield hub
    hub.server.stop()


@pytest.fixture(scope="module")
def client(live):
    return openai.OpenAI(base_url=live.url + "/v1", api_key=live.key("chat"), max_retries=0)


def test_models_lists_the_running_chat_model_and_the_embedder(client, live):
    ids = [m.id for m in client.models.list()]
    assert ids == [live.model_id, "builtin"]


def test_a_completion_with_and_without_memory(client, live):
    plain = client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=8,
        temperature=0,
    )
    assert plain.model == "anything" and plain.choices[0].message.role == "assistant"
    assert plain.usage.completion_tokens <= 8
    assert getattr(plain, "neurocache", None) is None
    with_memory = client.chat.completions.create(
        model=live.model_id,
        messages=[{"role": "user", "content": "Where do salmon go?"}],
        max_tokens=8,
        extra_body={"neurocache": {"rag": True}},
    )
    sources = with_memory.neurocache["sources"]
    assert sources[0]["title"] == "Rivers" and "Salmon" in sources[0]["quote"]


def test_streaming_yields_deltas_then_the_sources(client):
    stream = client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Salmon?"}],
        max_tokens=12,
        temperature=0,
        stream=True,
        extra_body={"neurocache": {}},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 2 and chunks[-1].choices == []  # the model's, then the sources
    assert chunks[-1].neurocache["sources"][0]["title"] == "Rivers"
    same = client.chat.completions.create(
        model="anything",
        messages=[{"role": "user", "content": "Salmon?"}],
        max_tokens=12,
        temperature=0,
        extra_body={"neurocache": {}},
    )
    # Greedy decoding of random weights is not reproducible across prompt-cache states:
    # the same sources come back; the texts are both the model's.
    assert same.neurocache["sources"] == chunks[-1].neurocache["sources"][
        : len(same.neurocache["sources"])
    ] and isinstance(text, str)


def test_embeddings_from_the_builtin_embedder(client, live):
    answer = client.embeddings.create(model="builtin", input=["salmon", "river"])
    assert [d.index for d in answer.data] == [0, 1] and len(answer.data[0].embedding) == 384
    assert answer.usage.prompt_tokens > 0
    expected = live.hub.embedder.embed(["salmon"])[0]
    assert np.allclose(answer.data[0].embedding, expected, atol=1e-6)
    raw = requests.post(
        live.url + "/v1/embeddings",
        timeout=30,
        headers={"Authorization": f"Bearer {live.key('chat')}"},
        json={"input": "salmon", "encoding_format": "base64"},
    ).json()
    decoded = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, expected, atol=1e-6)


def test_errors_come_in_openais_shape(client, live):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "a"}], temperature=7
        )
    assert bad.value.status_code == 400
    assert set(bad.value.body) == {"message", "type", "param", "code"}
    assert bad.value.body["type"] == "invalid_request_error"
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=[])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live.url + "/v1", api_key="nc_wrong", max_retries=0).models.list()
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(
            base_url=live.url + "/v1", api_key=live.key("read"), max_retries=0
        ).models.list()
    with pytest.raises(openai.NotFoundError) as missing:
        client.get("/nothing-here", cast_to=object)
    assert missing.value.status_code == 404


def test_a_developer_message_is_a_system_message(client):
    answer = client.chat.completions.create(
        model="x",
        max_tokens=4,
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
        ],
    )
    assert answer.choices[0].message.content is not None


def test_text_parts_are_read_as_text(client):
    answer = client.chat.completions.create(
        model="x",
        max_tokens=4,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
    )
    assert answer.choices[0].message.content is not None


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "content": "42"}],  # no tool_call_id
        [{"role": "user", "content": None}],
        [{"role": "user"}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
    ],
)
def test_a_clients_malformed_messages_are_its_400_not_our_502(client, messages):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="x", messages=messages, max_tokens=4)
    assert bad.value.status_code == 400
    assert bad.value.body["type"] == "invalid_request_error"


def test_a_prompt_longer_than_the_context_is_a_400_saying_so(client):
    long = "river " * 5000  # the tiny model's context is 2048 tokens
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": long}])
    assert bad.value.body["code"] == "context_length_exceeded"
    assert "maximum context length is 2048" in bad.value.body["message"]
    with pytest.raises(openai.BadRequestError) as too_much:
        client.chat.completions.create(
            model="x", max_tokens=5000, messages=[{"role": "user", "content": "Hi"}]
        )
    assert too_much.value.body["code"] == "context_length_exceeded"


def test_a_model_server_that_really_fails_is_still_a_502(live, tmp_path):
    """A remote backend that answers 500: the model server's failure, not the client's."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self):  # the model list: it is up
            self._answer(200, b'{"data": [{"id": "broken"}]}')

        def do_POST(self):
            self._answer(500, b'{"error": {"message": "CUDA out of memory"}}')

        def _answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    Thread(target=server.serve_forever, daemon=True).start()
    remote = live.hub.models.register_remote(
        f"http://127.0.0.1:{server.server_port}/v1", "broken", Actor("test")
    )
    try:
        client = openai.OpenAI(base_url=live.url + "/v1", api_key=live.key("chat"), max_retries=0)
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(
                model=remote.id, max_tokens=4, messages=[{"role": "user", "content": "Hi"}]
            )
        assert failed.value.status_code == 502
        assert failed.value.body["code"] == "backend_error"
    finally:
        live.hub.models.delete(remote.id, Actor("test"))
        server.shutdown()


def test_no_running_model_is_a_503_saying_what_to_do(client, live):
    live.hub.models.stop(live.model_id)
    try:
        with pytest.raises(openai.InternalServerError) as unavailable:
            client.chat.completions.create(model="x", messages=[{"role": "user", "content": "a"}])
        assert unavailable.value.status_code == 503
        assert "no chat model is running" in unavailable.value.body["message"]
    finally:
        live.hub.models.start(live.model_id)
        from tests.support.waiting import wait_for

        assert wait_for(lambda: live.hub.models.get(live.model_id).state == "running", timeout=60)


def test_a_completion_can_join_a_conversation(client, live):
    conversation = live.hub.conversations.create(Actor("test"), title="From OpenAI")
    client.chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": "Salmon?"}],
        max_tokens=6,
        extra_body={"neurocache": {"conversation_id": conversation.id}},
    )
    list(
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "Rivers?"}],
            max_tokens=6,
            stream=True,
            extra_body={"neurocache": {"conversation_id": conversation.id}},
        )
    )
    messages = live.hub.conversations.get(conversation.id).messages
    assert [(m.role, m.content) for m in messages if m.role == "user"] == [
        ("user", "Salmon?"),
        ("user", "Rivers?"),
    ]
    assert messages[1].sources[0].title == "Rivers"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="x",
            messages=[{"role": "user", "content": "a"}],
            extra_body={"neurocache": {"conversation_id": "nope"}},
        )


def usage_of(live, caller_key: str) -> dict:
    """This key's usage per model, the last hour."""
    key_id = next(k.id for k in live.hub.keys.list(limit=500)[0] if caller_key.startswith(k.prefix))
    got = requests.get(
        live.url + "/api/v1/usage",
        params={"group_by": "caller,model"},
        headers={"Authorization": f"Bearer {live.key('admin')}"},
        timeout=10,
    ).json()
    return {
        s["group"]["model"]: s["totals"]
        for s in got["series"]
        if s["group"]["caller"] == f"key:{key_id}"
    }


def test_usage_counts_the_tokens_of_each_key_and_model(live):
    secret = live.key("chat")
    own = openai.OpenAI(base_url=live.url + "/v1", api_key=secret, max_retries=0)
    answer = own.chat.completions.create(
        model=live.model_id,
        messages=[{"role": "user", "content": "Name a river."}],
        max_tokens=6,
        temperature=0,
    )
    streamed = list(
        own.chat.completions.create(
            model=live.model_id,
            messages=[{"role": "user", "content": "Name a river."}],
            max_tokens=6,
            temperature=0,
            stream=True,
        )
    )
    own.embeddings.create(model="builtin", input=["a river", "the sea"])
    used = usage_of(live, secret)
    pieces = sum(1 for c in streamed if c.choices and c.choices[0].delta.content)
    assert used[live.model_id]["tokens_out"] == answer.usage.completion_tokens + pieces
    # the server's count for the first; the stream's prompt is counted by the tokenizer,
    # without the chat template's few tokens around each message
    assert used[live.model_id]["tokens_in"] > answer.usage.prompt_tokens > 0
    assert used[live.model_id]["requests"] == 0  # requests are counted per endpoint
    assert used[live.hub.embedder.name]["tokens_in"] > 0
    assert used[""]["requests"] == 3


def test_a_reply_written_in_the_background_counts_against_the_key_that_asked(live):
    secret = live.key("chat", "read", "write")
    headers = {"Authorization": f"Bearer {secret}"}
    conversation = requests.post(
        live.url + "/api/v1/conversations", json={}, headers=headers, timeout=10
    ).json()
    posted = requests.post(
        f"{live.url}/api/v1/conversations/{conversation['id']}/messages",
        json={"content": "Name a river."},
        headers=headers,
        timeout=30,
    )
    assert posted.status_code == 202  # answered on a worker thread, after this request

    def replied() -> bool:
        messages = requests.get(
            f"{live.url}/api/v1/conversations/{conversation['id']}", headers=headers, timeout=10
        ).json()["messages"]
        return any(m["role"] == "assistant" and m.get("status") == "complete" for m in messages)

    from tests.support.waiting import wait_for

    assert wait_for(replied, timeout=60)
    used = usage_of(live, secret)
    assert used[live.model_id]["tokens_out"] > 0 and used[live.model_id]["tokens_in"] > 0

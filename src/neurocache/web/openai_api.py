"""The OpenAI-compatible API under `/v1`: any OpenAI client pointed at the hub (base URL
`http://127.0.0.1:PORT/v1`, an API key with the `chat` scope) talks to the hub's models.
Errors come in OpenAI's shape (see `web.errors`)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import numpy as np
from flask import Blueprint, Response, stream_with_context
from pydantic import ConfigDict, Field, StringConstraints, model_validator

from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.records import plain
from neurocache.replies.completions import last_user_text
from neurocache.web.api import MAX_TOKENS, MODEL_ERRORS, ApiModel, RequestModel, endpoint
from neurocache.web.auth import current_hub, current_principal
from neurocache.web.errors import openai_error_body

bp = Blueprint("openai", __name__, url_prefix="/v1")


class TextPart(ApiModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text"] = Field(description="Local models read text: only text parts.")
    text: str = Field(max_length=1_000_000)


class ChatMessage(ApiModel):
    """OpenAI's message; what a local model cannot take is refused here, with OpenAI's
    400, rather than passed on to fail in the model server."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Annotated[str, Field(max_length=1_000_000)] | list[TextPart] | None = None
    name: str | None = Field(None, max_length=256)
    tool_call_id: str | None = Field(None, max_length=256)
    tool_calls: list[dict[str, Any]] | None = Field(None, max_length=128)

    @model_validator(mode="after")
    def _complete(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a `tool` message needs the `tool_call_id` it answers")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(
                f"a `{self.role}` message needs `content` (only an assistant "
                "message with `tool_calls` may leave it out)"
            )
        return self


class ResponseFormat(ApiModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]


class MemoryOptions(RequestModel):
    collections: list[str] | None = Field(None, description="Collections to draw from.")
    agent_id: str | None = None
    conversation_id: str | None = None
    rag: bool = Field(True, description="Add relevant memories to the prompt.")


class ChatCompletionRequest(ApiModel):
    """OpenAI's fields; those the local model cannot honour are refused, others ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="A chat model of the hub; any other name: the running one.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS)
    stop: (
        Annotated[str, Field(max_length=1000)] | list[Annotated[str, Field(max_length=1000)]] | None
    ) = Field(None, max_length=4)
    n: int = Field(1, ge=1, le=1, description="One choice: local models write one reply.")
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="llama.cpp takes a 32-bit seed.")
    logit_bias: (
        dict[
            Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")],
            Annotated[float, Field(ge=-100, le=100)],
        ]
        | None
    ) = Field(None, max_length=1024, description="Token id → bias, as OpenAI's.")
    response_format: ResponseFormat | None = None
    user: str | None = Field(None, max_length=256)
    neurocache: MemoryOptions | None = None


class EmbeddingRequest(ApiModel):
    model_config = ConfigDict(extra="allow")
    input: str | list[str] = Field(description="A text or up to 2048 texts.")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"


@bp.get("/models")
@endpoint(scope="chat", responses={200: None})
def list_models() -> dict[str, Any]:
    """The chat models that can answer now, and the embedder."""
    hub = current_hub()
    now = int(time.time())
    ids = [m.id for m in hub.models.list() if m.role == "chat" and m.state == "running"]
    ids.append(hub.settings.embedder)
    return {
        "object": "list",
        "data": [
            {"id": i, "object": "model", "created": now, "owned_by": "neurocache"} for i in ids
        ],
    }


@bp.post("/chat/completions")
@endpoint(scope="chat", body=ChatCompletionRequest, responses={200: None}, errors=MODEL_ERRORS)
def chat_completions(body: ChatCompletionRequest) -> dict[str, Any] | Response:
    """OpenAI's chat completions, streamed (SSE) or not; `neurocache` adds memory."""
    hub = current_hub()
    request = body.model_dump(exclude_none=True)
    request["messages"] = [m.model_dump(exclude_none=True) for m in body.messages]
    conversation_id = body.neurocache.conversation_id if body.neurocache else None
    if conversation_id is not None:
        hub.conversations.row(conversation_id)  # 404 before the model is asked
        hub.conversations.check_readable(current_principal().person, conversation_id)
    prepared = hub.completions.prepare(request, _hub_model(hub, body.model))
    if not body.stream:
        answer = hub.completions.complete(prepared)
        answer["model"] = body.model
        if body.neurocache is not None:
            reply = (answer.get("choices") or [{}])[0].get("message", {}).get("content") or ""
            answer["neurocache"] = {"sources": prepared.sources_view(reply)}
            _record(hub, conversation_id, request, reply, prepared)
        return answer
    chunks = hub.completions.stream(prepared)
    first = next(chunks, None)  # the model's errors become HTTP errors before streaming
    return Response(
        stream_with_context(
            _sse(
                first,
                chunks,
                body,
                prepared,
                lambda reply: _record(hub, conversation_id, request, reply, prepared),
            )
        ),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _sse(
    first: dict | None,
    chunks: Iterator[dict],
    body: ChatCompletionRequest,
    prepared: Any,
    record: Any,
) -> Iterator[str]:
    written: list[str] = []
    last: dict[str, Any] = {}
    try:
        for chunk in _chain(first, chunks):
            chunk["model"] = body.model
            for choice in chunk.get("choices") or []:
                written.append((choice.get("delta") or {}).get("content") or "")
            last = chunk
            yield f"data: {json.dumps(chunk)}\n\n"
        record("".join(written))
        if body.neurocache is not None:
            yield (
                "data: "
                + json.dumps(
                    {
                        "id": last.get("id", ""),
                        "object": "chat.completion.chunk",
                        "created": last.get("created", int(time.time())),
                        "model": body.model,
                        "choices": [],
                        "neurocache": {"sources": plain(prepared.sources_view("".join(written)))},
                    }
                )
                + "\n\n"
            )
    except NeurocacheError as exc:  # after the headers: an error event, as OpenAI sends
        yield f"data: {json.dumps(openai_error_body(exc.status, exc.message, exc.code, {}))}\n\n"
    yield "data: [DONE]\n\n"


def _record(
    hub: Any, conversation_id: str | None, request: dict[str, Any], reply: str, prepared: Any
) -> None:
    """With `neurocache.conversation_id`: the question and the reply join that
    conversation, as if asked there (the client keeps sending its own history)."""
    if conversation_id is None:
        return
    question = last_user_text(request["messages"])
    conversation = hub.conversations.row(conversation_id)
    head = conversation.head_id
    asked = hub.conversations.add_message(conversation_id, "user", question, parent_id=head)
    answered = hub.conversations.add_message(
        conversation_id, "assistant", reply, parent_id=asked.id, model=prepared.backend.model_id
    )
    hub.conversations.finish_message(answered.id, reply, sources=prepared.sources_view(reply))
    if conversation.long_term and reply:
        hub.knowledge.remember([asked.id, answered.id], [question, reply])


def _chain(first: dict | None, rest: Iterator[dict]) -> Iterator[dict]:
    if first is not None:
        yield first
    yield from rest


def _hub_model(hub: Any, name: str) -> str | None:
    """`name` when it is a chat model of the hub, else None (the running one)."""
    return name if hub.models.is_chat_model(name) else None


@bp.post("/embeddings")
@endpoint(scope="chat", body=EmbeddingRequest, responses={200: None}, errors=MODEL_ERRORS)
def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
    """Vectors from the hub's embedder (the built-in one unless another is set)."""
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > 2048:
        raise InvalidInput("`input` takes 1 to 2048 texts", details={"field": "input"})
    embedder = current_hub().embedder
    vectors = embedder.embed(texts)
    tokens = sum(len(embedder.tokens(t)) for t in texts) if hasattr(embedder, "tokens") else 0
    current_hub().usage.add(model=embedder.name, tokens_in=tokens)
    return {
        "object": "list",
        "model": body.model or embedder.name,
        "data": [
            {"object": "embedding", "index": i, "embedding": _encoded(v, body)}
            for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encoded(vector: np.ndarray, body: EmbeddingRequest) -> list[float] | str:
    if body.encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]

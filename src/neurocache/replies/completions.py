"""OpenAI-style chat completions through the hub: the request goes to the hub's chat model,
with the person's memory added when the body asks for it (`"neurocache": {...}`).

Retrieval puts one system message in front of the client's messages: the instructions to
cite and the numbered sources, as many as fit the model's context next to what the client
sent and the reply it asked room for. The sources come back in a `neurocache` field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neurocache.llm.backend import ChatBackend
from neurocache.replies.prompt import (
    INSTRUCTIONS,
    MESSAGE_OVERHEAD,
    SAFETY_MARGIN,
    SOURCES_HEADING,
    PromptTooLong,
    Source,
    cited_sources,
)
from neurocache.replies.streaming import MeteredStream, message_text
from neurocache.search.passages import Citation

PASSED_THROUGH = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "logit_bias",
    "response_format",
    "user",
)
DEFAULT_MAX_TOKENS = 512


@dataclass
class Prepared:
    backend: ChatBackend
    body: dict[str, Any]
    sources: list[Source] = field(default_factory=list)

    def sources_view(self, reply: str) -> list[Citation]:
        return cited_sources(reply, self.sources)


class Completions:
    def __init__(
        self,
        backend_for: Callable[[str | None], ChatBackend],
        retrieve: Callable[[str, list[str] | None, int], list[Source]],
        sources_wanted: int,
    ) -> None:
        self.backend_for = backend_for
        self.retrieve = retrieve  # (question, collections, k) → sources, best first
        self.sources_wanted = sources_wanted

    def prepare(self, request: dict[str, Any], model_id: str | None) -> Prepared:
        backend = self.backend_for(model_id)
        body = {name: request[name] for name in PASSED_THROUGH if request.get(name) is not None}
        if request.get("max_completion_tokens") and "max_tokens" not in body:
            body["max_tokens"] = request["max_completion_tokens"]
        messages = [as_model_message(m) for m in request["messages"]]
        body["max_tokens"] = reply_room(messages, backend, body.get("max_tokens"))
        body["model"] = backend.served_name
        options = request.get("neurocache")
        sources: list[Source] = []
        if options is not None and options.get("rag", True):
            question = last_user_text(messages)
            found = self.retrieve(question, options.get("collections"), self.sources_wanted)
            sources = fit_sources(found, messages, backend, body["max_tokens"])
            if sources:
                messages.insert(0, {"role": "system", "content": sources_message(sources)})
        body["messages"] = messages
        return Prepared(backend, body, sources)

    @staticmethod
    def complete(prepared: Prepared) -> dict[str, Any]:
        answer = prepared.backend.client.chat(prepared.body["messages"], **_params(prepared))
        usage = answer.get("usage") or {}
        prepared.backend.count_usage(
            tokens_in=usage.get("prompt_tokens", 0), tokens_out=usage.get("completion_tokens", 0)
        )
        return answer

    @staticmethod
    def stream(prepared: Prepared) -> MeteredStream:
        messages = prepared.body["messages"]
        chunks = prepared.backend.client.chat_stream(messages, **_params(prepared))
        return MeteredStream(prepared.backend, chunks, messages)


class ContextExceeded(PromptTooLong):
    """OpenAI's code for a request that does not fit the model's context."""

    code = "context_length_exceeded"


def as_model_message(message: dict[str, Any]) -> dict[str, Any]:
    """A client's message as llama.cpp's chat templates take it: `developer` is OpenAI's
    newer name for `system`, which the templates know; text parts become one text."""
    message = dict(message)
    if message.get("role") == "developer":
        message["role"] = "system"
    if isinstance(message.get("content"), list):
        message["content"] = message_text(message["content"])
    elif message.get("content") is None:
        message["content"] = ""  # an assistant message that only called tools
    return message


def reply_room(messages: list[dict[str, Any]], backend: ChatBackend, asked: int | None) -> int:
    """The reply's token budget: what the client asked when it fits beside the messages
    (else OpenAI's 400), or the default cut to the room there is."""
    taken = sum(
        backend.count_tokens(message_text(m.get("content"))) + MESSAGE_OVERHEAD for m in messages
    )
    room = int(backend.context_tokens * SAFETY_MARGIN) - taken
    if asked is not None and asked > room:
        raise ContextExceeded(
            f"This model's maximum context length is {backend.context_tokens} tokens; the "
            f"messages take about {taken} and {asked} were asked for the reply",
            details={
                "field": "messages",
                "tokens": taken,
                "asked": asked,
                "context": backend.context_tokens,
            },
        )
    if room < 1:
        raise ContextExceeded(
            f"This model's maximum context length is {backend.context_tokens} tokens; the "
            f"messages take about {taken}, leaving no room for a reply",
            details={"field": "messages", "tokens": taken, "context": backend.context_tokens},
        )
    return asked if asked is not None else min(DEFAULT_MAX_TOKENS, room)


def _params(prepared: Prepared) -> dict[str, Any]:
    return {k: v for k, v in prepared.body.items() if k != "messages"}


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def sources_message(sources: list[Source]) -> str:
    blocks = "".join(f"\n\n{s.heading(n)}\n{s.text}" for n, s in enumerate(sources, start=1))
    return f"{INSTRUCTIONS}{SOURCES_HEADING}{blocks}"


def fit_sources(
    found: list[Source], messages: list[dict[str, Any]], backend: ChatBackend, reply_tokens: int
) -> list[Source]:
    """As many of the best sources as fit beside the client's messages and the reply."""
    count = backend.count_tokens
    taken = sum(count(message_text(m.get("content"))) + MESSAGE_OVERHEAD for m in messages)
    limit = int((backend.context_tokens - reply_tokens) * SAFETY_MARGIN)
    if taken > limit:
        raise PromptTooLong(
            f"the messages take {taken} tokens; this model has room for "
            f"{limit} beside a reply of {reply_tokens}",
            details={"tokens": taken, "limit": limit},
        )
    # Each block counted once (re-counting the whole message per try cost ~10 ms).
    taken += count(INSTRUCTIONS + SOURCES_HEADING) + MESSAGE_OVERHEAD
    costs = [count(f"\n\n{s.heading(n)}\n{s.text}") for n, s in enumerate(found, start=1)]
    kept = 0
    while kept < len(found) and taken + costs[kept] <= limit:
        taken += costs[kept]
        kept += 1
    return list(found[:kept])

"""Answering a message: retrieve, build the prompt, stream the reply, keep it with sources.

A reply runs in a worker thread and is streamed to room `conversation:<id>` as
`message.delta` events, then `message.completed` with the stored message. Its text is saved
every couple of seconds while it is written, so a stopped or crashed reply keeps what it
had. Stopping a reply keeps the partial text (status `stopped`); a model that fails midway
marks the reply `failed` with the reason."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from neurocache.conversations.history import HistoryCache
from neurocache.conversations.records import MessageRecord, Posted
from neurocache.conversations.service import Conversations
from neurocache.errors import InvalidInput, NeurocacheError
from neurocache.events import Publish
from neurocache.llm.backend import ChatBackend
from neurocache.metering.usage import carrying_scope, scope
from neurocache.replies.lifecycle import ending, stored_end, stored_failed
from neurocache.replies.prompt import (
    INSTRUCTIONS,
    Persona,
    Prompt,
    Turn,
    build_prompt,
    cited_sources,
)
from neurocache.replies.streaming import stream_reply
from neurocache.search.service import Filters, SearchService
from neurocache.store.tables import Conversation
from neurocache.threads import Threads

log = logging.getLogger("neurocache.chat")
RECALL_MIN_SCORE = 0.3  # cosine: below this an earlier turn is rarely about the question


@dataclass(frozen=True)
class ChatOptions:
    max_reply_tokens: int = 512
    temperature: float = 0.7
    sources: int = 6
    recalled: int = 3
    history_turns: int = 20
    workers: int = 4


def room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class Answerer:
    def __init__(
        self,
        conversations: Conversations,
        search: SearchService,
        backend_for: Callable[[str | None], ChatBackend],
        remember: Callable[[list[str], list[str]], None],
        publish: Publish,
        options: ChatOptions,
        hot: HistoryCache,
        agent_for: Callable[[str], Persona | None] | None = None,
        threads: Threads | None = None,
    ) -> None:
        self.conversations = conversations
        self.agent_for = agent_for or (lambda _agent_id: None)
        self.search = search
        self.backend_for = backend_for
        self.remember = remember  # embeds messages for long-term recall
        self.publish = publish
        self.options = options
        self.hot = hot
        self._pool = (threads or Threads()).pool("reply", options.workers)
        self._stops: dict[str, threading.Event] = {}
        self._heads: dict[str, threading.Lock] = {}  # per conversation: who moves its head
        self._lock = threading.Lock()

    # ---- entry points
    def post(
        self,
        conversation_id: str,
        content: str,
        *,
        wait: bool = False,
    ) -> Posted:
        with self._head_lock(conversation_id):  # two posts at once: one after the other
            conversation = self.conversations.row(conversation_id)
            backend = self.backend_for(self._model(conversation))  # 503 before storing
            self.conversations.name_after_first_question(conversation_id, content)
            message = self.conversations.add_message(
                conversation_id, "user", content, parent_id=conversation.head_id
            )
            self.hot.extend(
                conversation_id, conversation.head_id, message.id, Turn("user", content)
            )
            self.publish("message.created", message.plain(), room(conversation_id))
            future = self._reply(conversation_id, message, backend)
        return _posted(message, future, wait)

    def regenerate(
        self,
        conversation_id: str,
        reply_id: str,
        *,
        wait: bool = False,
    ) -> Posted:
        """A new reply to the same question, beside the old one (which stays, as a branch);
        the conversation goes on from the new one."""
        old = self.conversations.message(reply_id)
        if (
            old.conversation_id != conversation_id
            or old.role != "assistant"
            or old.parent_id is None
        ):
            raise InvalidInput(
                "only a reply of this conversation can be regenerated",
                details={"message_id": reply_id},
            )
        with self._head_lock(conversation_id):
            conversation = self.conversations.row(conversation_id)
            backend = self.backend_for(self._model(conversation))
            question = self.conversations.message(old.parent_id)
            future = self._reply(conversation_id, question, backend)
        return _posted(question, future, wait)

    def stop(self, reply_id: str) -> MessageRecord:
        with self._lock:
            event = self._stops.get(reply_id)
        if event is not None:
            event.set()
        return self.conversations.message(reply_id)

    def close(self) -> None:
        with self._lock:
            for event in self._stops.values():
                event.set()
        self._pool.shutdown(wait=True)

    # ---- one reply
    def _agent(self, conversation: Conversation) -> Persona | None:
        """The conversation's agent (persona, model, temperature, knowledge), if any."""
        return self.agent_for(conversation.agent_id) if conversation.agent_id else None

    def _model(self, conversation: Conversation) -> str | None:
        agent = self._agent(conversation)
        return conversation.model or (agent.model if agent else None)

    def _head_lock(self, conversation_id: str) -> threading.Lock:
        with self._lock:
            return self._heads.setdefault(conversation_id, threading.Lock())

    def _reply(self, conversation_id: str, question: MessageRecord, backend: ChatBackend) -> Future:
        # The reply hangs off the question and becomes the head, in one transaction.
        reply = self.conversations.add_message(
            conversation_id,
            "assistant",
            "",
            parent_id=question.id,
            status="streaming",
            model=backend.model_id,
        )
        with self._lock:
            self._stops[reply.id] = threading.Event()
        self.publish("message.created", reply.plain(), room(conversation_id))
        future: Future = self._pool.submit(
            carrying_scope(self._answer), conversation_id, question, reply.id, backend
        )
        future.reply_id = reply.id  # type: ignore[attr-defined]
        return future

    def _answer(
        self, conversation_id: str, question: MessageRecord, reply_id: str, backend: ChatBackend
    ) -> MessageRecord | None:
        written: dict[str, Any] = {"text": "", "prompt": None}

        def write() -> dict[str, Any]:
            conversation = self.conversations.row(conversation_id)
            written["prompt"] = self._prompt(conversation, question, backend)
            with scope(agent=conversation.agent_id or ""):
                written["text"], usage = self._stream(
                    conversation_id, reply_id, written["prompt"], backend
                )
            stopped = self._stops[reply_id].is_set()
            return {"status": "stopped" if stopped else "complete", **usage}

        try:
            fields = ending(write, f"reply {reply_id}")
        finally:
            with self._lock:
                self._stops.pop(reply_id, None)
        text, prompt = written["text"], written["prompt"]
        try:
            return self._finish(conversation_id, question, reply_id, text, fields, prompt)
        except Exception:  # nobody waits on this thread: say it, and never leave `streaming`
            log.exception("finishing reply %s failed", reply_id)
            return stored_failed(self.conversations.finish_message, reply_id, text)

    def _finish(
        self,
        conversation_id: str,
        question: MessageRecord,
        reply_id: str,
        text: str,
        fields: dict[str, Any],
        prompt: Prompt | None,
    ) -> MessageRecord | None:
        if prompt is not None:
            fields["sources"] = cited_sources(text, prompt.sources)
        reply = stored_end(
            self.conversations.finish_message, reply_id, text, fields, gone=(NeurocacheError,)
        )
        if reply is None:
            return None  # deleted while it was written
        self.publish("message.completed", reply.plain(), room(conversation_id))
        conversation = self.conversations.row(conversation_id)
        self.hot.set(
            conversation_id,
            self.conversations.history(conversation.head_id)[-self.options.history_turns - 2 :],
        )
        answered = bool(text) and reply.status != "failed"
        if answered and conversation.agent_id:  # for the agent's working memory
            self.publish(
                "reply.finished",
                {
                    "agent_id": conversation.agent_id,
                    "conversation_id": conversation.id,
                    "where": f"the conversation {conversation.title!r}",
                    "question": question.content,
                    "reply": text,
                },
                None,
            )
        if conversation.long_term:  # the question is worth recalling even unanswered
            self.remember(
                [question.id, *([reply_id] if answered else [])],
                [question.content, *([text] if answered else [])],
            )
        return reply

    def _stream(
        self, conversation_id: str, reply_id: str, prompt: Prompt, backend: ChatBackend
    ) -> tuple[str, dict[str, Any]]:
        text, tokens = stream_reply(
            backend,
            prompt.messages,
            max_tokens=self.options.max_reply_tokens,
            temperature=prompt.temperature
            if prompt.temperature is not None
            else self.options.temperature,
            on_delta=lambda delta: self.publish(
                "message.delta",
                {"message_id": reply_id, "delta": delta, "conversation_id": conversation_id},
                room(conversation_id),
            ),
            save=lambda so_far: self.conversations.finish_message(reply_id, so_far),
            stop=self._stops[reply_id],
            prompt_tokens=prompt.tokens,
        )
        return text, {"tokens_in": prompt.tokens, "tokens_out": tokens}

    # ---- what the model reads
    def _prompt(
        self, conversation: Conversation, question: MessageRecord, backend: ChatBackend
    ) -> Prompt:
        agent = self._agent(conversation)
        history = self._history(conversation, question)
        collections = conversation.collections or (agent.collections if agent else None) or None
        sources = self.search.passages(question.content, collections, self.options.sources)
        recalled = self._recalled(question.content, conversation, question.id)
        budget = backend.context_tokens - self.options.max_reply_tokens
        persona = agent.persona if agent else ""
        prompt = build_prompt(
            question.content,
            history=history,
            sources=sources,
            recalled=recalled,
            budget=budget,
            count=backend.count_tokens,
            instructions=f"{persona}\n\n{INSTRUCTIONS}" if persona else INSTRUCTIONS,
        )
        prompt.temperature = agent.temperature if agent else None
        return prompt

    def _history(self, conversation: Conversation, question: MessageRecord) -> list[Turn]:
        """The turns before the question, from the hot cache when it holds this branch."""
        if not conversation.short_term or question.parent_id is None:
            return []
        chain = self.hot.get(conversation.id, lambda: self.conversations.history(question.id))
        ids = [i for i, _ in chain]
        if question.id not in ids:  # another branch (a regenerated reply): the store
            chain = self.conversations.history(question.id)
            ids = [i for i, _ in chain]
        before = chain[: ids.index(question.id)] if question.id in ids else chain
        return exchanges([t for _, t in before])[-self.options.history_turns :]

    def _recalled(self, query: str, conversation: Conversation, question_id: str) -> list[Turn]:
        if not conversation.long_term or self.options.recalled == 0:
            return []
        here = {i for i, _ in self.conversations.history(conversation.head_id)} | {question_id}
        try:
            hits = self.search.search(
                query,
                k=self.options.recalled * 4,
                mode="vector",
                filters=Filters(kinds=["message"]),
            )
        except InvalidInput:
            return []
        roles = self.conversations.recallable_roles(
            [h.memory_id for h in hits], besides=conversation.id, owner=conversation.owner
        )
        return [
            Turn(roles[h.memory_id], h.text)
            for h in hits
            if h.memory_id in roles and h.memory_id not in here and h.score >= RECALL_MIN_SCORE
        ][: self.options.recalled]


def _posted(question: MessageRecord, future: Future, wait: bool) -> Posted:
    reply_id: str = future.reply_id  # type: ignore[attr-defined]
    if wait:  # None: the reply was deleted while it was written
        return Posted(message=question, reply_id=reply_id, reply=future.result())
    return Posted(message=question, reply_id=reply_id)


def exchanges(turns: list[Turn]) -> list[Turn]:
    """Only whole question-and-reply pairs: a question whose reply failed is left out, so
    the turns alternate as chat templates require (some refuse anything else)."""
    kept: list[Turn] = []
    for turn, following in zip(turns, [*turns[1:], None], strict=True):
        if turn.role == "user" and following is not None and following.role == "assistant":
            kept += [turn, following]
    return kept

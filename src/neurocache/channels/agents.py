"""Agents speaking in channels, and the channel query.

An agent replies when @mentioned, or to every person's message when its mode is `auto`.
Replies of one channel are written one at a time, in order (never over each other). An
agent's reply may @mention another agent, which then answers too, but a person's message
sets off at most `max_agent_turns` agent replies, so agents cannot loop. `auto` agents
answer people, not other agents.

Each agent answers from its own collections and its own memories (working, long-term and
personal log), and writes a working memory of the turn afterwards."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from neurocache.access.visibility import Visibility
from neurocache.agents.records import AgentRecord
from neurocache.agents.service import Agents
from neurocache.agents.tiers import AgentMemories
from neurocache.channels.messages import ChannelMessages, room
from neurocache.channels.records import AgentAnswer, ChannelMessageRecord, QueryAnswer
from neurocache.channels.service import Channels
from neurocache.errors import Conflict, InvalidInput, NotFound, Unavailable
from neurocache.events import Publish
from neurocache.llm.backend import ChatBackend
from neurocache.metering.usage import scope
from neurocache.replies.lifecycle import ending, stored_end
from neurocache.replies.prompt import Source, Turn, build_prompt, cited_sources
from neurocache.replies.streaming import SerialQueues, stream_reply
from neurocache.search.passages import Citation

log = logging.getLogger("neurocache.chat")
Retrieve = Callable[[str, list[str] | None, int], list[Source]]
RECALLED_TIERS = ["working", "long_term", "personal_log"]
CHANNEL_INSTRUCTIONS = (
    "You are {name}, taking part in the chat channel #{channel} with people and other AI "
    "agents. Their messages are shown as 'Name: text'. Reply to the last message as {name}, "
    "briefly, without putting your name in front. When the sources below help, cite them "
    "by number, like [1]. To ask another agent, @mention it."
)
QUERY_INSTRUCTIONS = (
    "You are {name}. Answer the question from the sources below (your knowledge and your "
    "memories), citing them by number like [1]. If they do not answer it, say so. Be concise."
)
COMBINE_INSTRUCTIONS = (
    "Several agents answered a question, each from its own knowledge. Write one answer "
    "combining what they said, citing the sources below by number like [1]. Where they "
    "disagree, say so. Be concise."
)


@dataclass(frozen=True)
class ChannelOptions:
    max_agent_turns: int = 3
    max_reply_tokens: int = 512
    temperature: float = 0.7
    sources: int = 4
    memories: int = 3
    history: int = 20


@dataclass(frozen=True)
class Composed:
    """What an agent's reply is written from."""

    backend: ChatBackend
    messages: list[dict[str, str]]
    sources: list[Source]
    temperature: float


class ChannelAgents:
    def __init__(
        self,
        channels: Channels,
        messages: ChannelMessages,
        agents: Agents,
        tiers: AgentMemories,
        retrieve: Retrieve,
        backend_for: Callable[[str | None], ChatBackend],
        publish: Publish,
        queues: SerialQueues,
        visibility: Visibility,
        options: ChannelOptions,
    ) -> None:
        self.channels, self.messages, self.agents, self.tiers = channels, messages, agents, tiers
        self.retrieve, self.backend_for, self.publish = retrieve, backend_for, publish
        self.queues, self.visibility, self.options = queues, visibility, options
        self._stops: dict[str, threading.Event] = {}  # replies being written here
        self._lock = threading.Lock()

    # ---- replies in a channel
    def on_message(self, message: ChannelMessageRecord) -> list[Future]:
        """Queue the replies of the agents this message calls on (after it is stored)."""
        by_agent = message.author_kind == "agent"
        if by_agent:
            trigger = message.trigger_id
            if trigger is None:
                return []
        else:
            trigger = message.id
        members = dict(self.channels.agents_in(message.channel_id))
        called = [
            m.removeprefix("agent:")
            for m in message.mentions
            if m.startswith("agent:") and m != message.author
        ]
        if not by_agent:  # `auto` agents answer people, never each other
            called += [a for a, mode in members.items() if mode == "auto" and a not in called]
        return [
            self.queues.submit(
                message.channel_id, functools.partial(self._speak, agent_id, message, trigger)
            )
            for agent_id in called
            if agent_id in members
        ]

    def stop(self, channel_id: str, message_id: str) -> ChannelMessageRecord:
        """Stop an agent's reply being written (what it wrote so far is kept, `stopped`).
        A reply written by another hub process of a team is not reached from here."""
        message = self.messages.get(channel_id, message_id)
        if message.author_kind != "agent":
            raise InvalidInput("only an agent's reply can be stopped")
        with self._lock:
            stop = self._stops.get(message_id)
        if stop is not None:
            stop.set()
        return message

    def wait(self, replies: list[Future], timeout: float) -> list[ChannelMessageRecord]:
        """The replies those futures made (an agent that stayed quiet made none)."""
        return [r for r in (f.result(timeout) for f in replies) if r is not None]

    def _speak(
        self, agent_id: str, prompting: ChannelMessageRecord, trigger: str
    ) -> ChannelMessageRecord | None:
        channel_id = prompting.channel_id
        if self.messages.agent_turns_since(trigger) >= self.options.max_agent_turns:
            log.info("agent %s stays quiet: %s set off enough agent turns", agent_id, trigger)
            return None
        try:
            agent = self.agents.get(agent_id)
        except NotFound:  # deleted while its turn waited
            return None
        member = f"agent:{agent_id}"
        self._typing(channel_id, member, agent.name, True)
        try:
            with scope(agent=agent_id):
                return self._reply(agent, prompting, trigger)
        finally:
            self._typing(channel_id, member, agent.name, False)

    def _reply(
        self, agent: AgentRecord, prompting: ChannelMessageRecord, trigger: str
    ) -> ChannelMessageRecord | None:
        channel_id = prompting.channel_id

        def compose() -> Composed:
            backend = self.backend_for(agent.model)
            messages, sources = self._channel_prompt(agent, prompting, backend)
            return Composed(backend, messages, sources, self._temperature(agent))

        final, text = self._stream_message(
            channel_id, f"agent:{agent.id}", prompting.reply_to, trigger, compose
        )
        if final is not None and final.status == "complete":
            self.on_message(final)  # it may call on another agent
            self.tiers.record_turn(
                agent.id,
                f"#{self.channels.name(channel_id)}",
                f"{prompting.author_name}: {prompting.content}",
                text,
                source={"channel_id": channel_id},
            )
        return final

    def _stream_message(
        self,
        channel_id: str,
        member: str,
        reply_to: str | None,
        trigger: str,
        compose: Callable[[], Composed],
    ) -> tuple[ChannelMessageRecord | None, str]:
        """A message of an agent written as the model streams it: deltas to the channel's
        room, saved every few seconds, stoppable, ended whatever happens (None: deleted
        while it was written); and its text."""
        reply = self.messages.post(
            channel_id, member, "", reply_to=reply_to, trigger_id=trigger, status="streaming"
        )
        written: dict[str, Any] = {"text": "", "sources": []}
        stop = threading.Event()
        with self._lock:
            self._stops[reply.id] = stop

        def write() -> dict[str, Any]:
            composed = compose()
            written["sources"] = composed.sources
            written["text"], _tokens = stream_reply(
                composed.backend,
                composed.messages,
                max_tokens=self.options.max_reply_tokens,
                temperature=composed.temperature,
                on_delta=lambda d: self.publish(
                    "message.delta",
                    {"message_id": reply.id, "delta": d, "channel_id": channel_id},
                    room(channel_id),
                ),
                save=lambda so_far: self.messages.finish(reply.id, so_far),
                stop=stop,
            )
            return {"status": "stopped" if stop.is_set() else "complete"}

        try:
            fields = ending(write, f"agent reply {reply.id}")
        finally:
            with self._lock:
                self._stops.pop(reply.id, None)
        text = written["text"]
        fields["sources"] = cited_sources(text, written["sources"])
        final = stored_end(self.messages.finish, reply.id, text, fields, gone=(NotFound,))
        if final is not None:
            self.publish("message.completed", final.plain(), room(channel_id))
            if final.status == "complete":
                self.messages.written(final.id, text)
        return final, text

    def _channel_prompt(
        self, agent: AgentRecord, prompting: ChannelMessageRecord, backend: ChatBackend
    ) -> tuple[list[dict[str, str]], list[Source]]:
        channel_id = prompting.channel_id
        recent = self.messages.page(channel_id, limit=self.options.history).messages
        before = [m for m in recent if m.seq < prompting.seq and m.content and m.status != "failed"]
        history, question = transcript(before, prompting, f"agent:{agent.id}")
        sources = self._sources(agent, prompting.content, channel_id)
        instructions = CHANNEL_INSTRUCTIONS.format(
            name=agent.name, channel=self.channels.name(channel_id)
        )
        prompt = build_prompt(
            question,
            history=history,
            sources=sources,
            recalled=[],
            budget=backend.context_tokens - self.options.max_reply_tokens,
            count=backend.count_tokens,
            instructions=_with_persona(agent, instructions),
        )
        return prompt.messages, prompt.sources

    # ---- the channel query
    def query(
        self, channel_id: str, question: str, asker: str | None = None, via: str | None = None
    ) -> QueryAnswer:
        """Every agent of the channel answers from its own knowledge and memory; then one
        combined answer with the sources of all. With an `asker` (a person), all of it is
        kept in the channel as it is written: the question as their message, each agent's
        answer as its reply in the question's thread (streamed like any reply), the
        combined answer last, under the first agent's name (its model writes it). One
        agent's answer is the answer."""
        agent_ids = [a for a, _ in self.channels.agents_in(channel_id)]
        if not agent_ids:
            raise Conflict(
                "this channel has no agents to answer: add one "
                '(POST /api/v1/channels/{id}/members {"agent_id"})'
            )
        agents = [self.agents.get(a) for a in agent_ids]
        backends = [self.backend_for(a.model) for a in agents]  # 503 before any work
        asked = self.messages.post(channel_id, asker, question, via=via) if asker else None
        answers = [
            self._answer_alone(a, b, question, channel_id, asked)
            for a, b in zip(agents, backends, strict=True)
        ]
        if len(answers) == 1:  # one agent: its answer is the answer
            combined, sources = answers[0][0], cited_sources(*answers[0])
        else:
            combined, sources = self._combine(question, answers, agents[0], backends[0], asked)
        return QueryAnswer(
            question=question,
            answer=combined,
            sources=sources,
            answers=[
                AgentAnswer(agent_id=a.id, name=a.name, answer=t, sources=cited_sources(t, ss))
                for a, (t, ss) in zip(agents, answers, strict=True)
            ],
            message_id=asked.id if asked else None,
        )

    def _answer_alone(
        self,
        agent: AgentRecord,
        backend: ChatBackend,
        question: str,
        channel_id: str,
        asked: ChannelMessageRecord | None,
    ) -> tuple[str, list[Source]]:
        instructions = _with_persona(agent, QUERY_INSTRUCTIONS.format(name=agent.name))
        prompt = build_prompt(
            question,
            history=[],
            sources=self._sources(agent, question, channel_id),
            recalled=[],
            count=backend.count_tokens,
            budget=backend.context_tokens - self.options.max_reply_tokens,
            instructions=instructions,
        )
        composed = Composed(backend, prompt.messages, prompt.sources, self._temperature(agent))
        text = self._said(agent, composed, asked)
        self.tiers.record_turn(
            agent.id,
            f"a query of #{self.channels.name(channel_id)}",
            f"Question: {question}",
            text,
            source={"channel_id": channel_id},
        )
        return text, prompt.sources

    def _combine(
        self,
        question: str,
        answers: list[tuple[str, list[Source]]],
        agent: AgentRecord,
        backend: ChatBackend,
        asked: ChannelMessageRecord | None,
    ) -> tuple[str, list[Citation]]:
        every = list({s.memory_id: s for _, ss in answers for s in ss}.values())
        said = "\n\n".join(
            f"Answer {i}: {text or '(no answer)'}" for i, (text, _) in enumerate(answers, start=1)
        )
        prompt = build_prompt(
            f"Question: {question}\n\n{said}",
            history=[],
            sources=every,
            recalled=[],
            count=backend.count_tokens,
            budget=backend.context_tokens - self.options.max_reply_tokens,
            instructions=COMBINE_INSTRUCTIONS,
        )
        composed = Composed(backend, prompt.messages, prompt.sources, self.options.temperature)
        text = self._said(agent, composed, asked)
        return text, cited_sources(text, prompt.sources)

    def _said(
        self, agent: AgentRecord, composed: Composed, asked: ChannelMessageRecord | None
    ) -> str:
        """A query's answer: only returned, or also kept as a reply in the question's
        thread when the question was posted in the channel."""
        if asked is None:
            text, _ = stream_reply(
                composed.backend,
                composed.messages,
                temperature=composed.temperature,
                max_tokens=self.options.max_reply_tokens,
            )
            return text
        member = f"agent:{agent.id}"
        final, text = self._stream_message(
            asked.channel_id, member, asked.id, asked.id, lambda: composed
        )
        if final is not None and final.status == "failed":  # kept as failed; said, as unposted
            raise Unavailable(final.error or f"{agent.name}'s model failed")
        return text

    # ---- helpers
    def _sources(self, agent: AgentRecord, query: str, channel_id: str) -> list[Source]:
        """Passages of the agent's collections, then its own memories: those every person
        in the channel may see (a memory of a private channel stays out of others)."""
        passages = self.retrieve(query, agent.collections or None, self.options.sources)
        if self.options.memories == 0:
            return passages
        people = [m.member for m in self.channels.members(channel_id) if m.kind == "person"]
        try:
            own = self.tiers.search(
                agent.id,
                query,
                tiers=RECALLED_TIERS,
                k=self.options.memories * 2,
                highlights=False,
            )
        except InvalidInput:  # a message with nothing to look for recalls nothing
            own = []
        hits = self.visibility.to_all(people, own)[: self.options.memories]
        return passages + [
            Source(
                memory_id=h.memory_id,
                text=h.text,
                score=h.score,
                title=f"{agent.name}'s memory ({h.tier})",
            )
            for h in hits
        ]

    def _temperature(self, agent: AgentRecord) -> float:
        temperature = agent.temperature
        return self.options.temperature if temperature is None else temperature

    def _typing(self, channel_id: str, member: str, name: str, typing: bool) -> None:
        self.publish(
            "typing",
            {"channel_id": channel_id, "member": member, "name": name, "typing": typing},
            room(channel_id),
        )


def _with_persona(agent: AgentRecord, instructions: str) -> str:
    persona = (agent.persona or "").strip()
    return f"{persona}\n\n{instructions}" if persona else instructions


def transcript(
    before: list[ChannelMessageRecord], last: ChannelMessageRecord, me: str
) -> tuple[list[Turn], str]:
    """The channel as chat turns for one agent: its own messages are `assistant`, everyone
    else's `user` as "Name: text"; same-role neighbours merge so the turns alternate (chat
    templates require it) and the history ends with the agent's turn, before `last`."""
    turns: list[Turn] = []
    for message in before:
        role = "assistant" if message.author == me else "user"
        text = (
            message.content if role == "assistant" else f"{message.author_name}: {message.content}"
        )
        if turns and turns[-1].role == role:
            turns[-1] = Turn(role, f"{turns[-1].content}\n{text}")
        else:
            turns.append(Turn(role, text))
    while turns and turns[0].role == "assistant":
        turns.pop(0)
    question = f"{last.author_name}: {last.content}"
    if turns and turns[-1].role == "user":
        question = f"{turns.pop().content}\n{question}"
    return turns, question

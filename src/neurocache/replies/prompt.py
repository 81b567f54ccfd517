"""The prompt: what the model reads before it answers, always within its context budget.

Sources (retrieved passages) are numbered [1], [2]… in order of relevance and the model is
asked to cite them that way; `cited_numbers` reads the citations back out of a reply.
When everything does not fit, the least useful goes first: recalled turns of earlier
conversations (least relevant first), then sources (least relevant first), then the
oldest turns of this conversation. The question and the instructions always stay."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from neurocache.errors import NeurocacheError
from neurocache.search.passages import Citation, Source

__all__ = ["Source"]  # what replies cite is what search found

INSTRUCTIONS = (
    "You are Neurocache, a private assistant that answers from the user's own notes, "
    "documents and saved pages. When the sources below help, answer from them and cite "
    "each claim with the number of its source in square brackets, like [1] or [2][3]. "
    "If the sources do not answer the question, say so and answer as best you can "
    "without citing. Be concise."
)
MESSAGE_OVERHEAD = 8  # tokens a chat template adds around each message (role, markers)
SAFETY_MARGIN = 0.95  # parts counted one by one may tokenize a little longer together
CITATION = re.compile(r"\[(\d{1,3})\]")
SOURCES_HEADING = "\n\nSources:"
RECALLED_HEADING = "\n\nEarlier conversations that may be relevant:"


class PromptTooLong(NeurocacheError):
    status = 422
    code = "input_too_long"


@dataclass(frozen=True)
class Turn:
    role: str  # user | assistant
    content: str


@dataclass
class Prompt:
    messages: list[dict[str, str]]
    sources: list[Source]  # numbered from 1 in this order
    recalled: list[Turn]
    history: list[Turn]
    tokens: int
    dropped: dict[str, int] = field(default_factory=dict)
    temperature: float | None = None  # the agent's, when it has one


class Persona(Protocol):
    """Who answers, when it is an agent: what a reply takes from it."""

    @property
    def model(self) -> str | None: ...
    @property
    def persona(self) -> str: ...
    @property
    def temperature(self) -> float | None: ...
    @property
    def collections(self) -> list[str] | None: ...


def build_prompt(
    question: str,
    *,
    history: list[Turn],
    sources: list[Source],
    recalled: list[Turn],
    budget: int,
    count: Callable[[str], int],
    instructions: str = INSTRUCTIONS,
) -> Prompt:
    """The messages for the model, at most `budget` tokens by `count` (the model's own
    tokenizer). `sources` and `recalled` come most relevant first; `history` oldest first."""
    sources, recalled, history = list(sources), list(recalled), list(history)
    dropped = {"recalled": 0, "sources": 0, "history": 0}
    limit = int(budget * SAFETY_MARGIN)
    fixed = (
        _cost(instructions, count)
        + _cost(question, count)
        + count(SOURCES_HEADING)
        + count(RECALLED_HEADING)
    )
    source_costs = [count(_source_block(s, i + 1)) for i, s in enumerate(sources)]
    recalled_costs = [count(_recalled_line(t)) for t in recalled]
    history_costs = [_cost(t.content, count) for t in history]
    while fixed + sum(source_costs) + sum(recalled_costs) + sum(history_costs) > limit:
        if recalled:
            recalled.pop(), recalled_costs.pop()
            dropped["recalled"] += 1
        elif sources:
            sources.pop(), source_costs.pop()
            dropped["sources"] += 1
        elif history:  # a whole exchange at a time: templates want user, assistant, ...
            history.pop(0), history_costs.pop(0)
            dropped["history"] += 1
            if history and history[0].role == "assistant":
                history.pop(0), history_costs.pop(0)
                dropped["history"] += 1
        else:
            raise PromptTooLong(
                f"the message is too long for the model's context ({fixed} tokens with the "
                f"instructions; at most {limit})",
                details={"tokens": fixed, "limit": limit},
            )
    tokens = fixed + sum(source_costs) + sum(recalled_costs) + sum(history_costs)
    system = _system(instructions, sources, recalled)
    messages = [
        {"role": "system", "content": system},
        *({"role": t.role, "content": t.content} for t in history),
        {"role": "user", "content": question},
    ]
    return Prompt(messages, sources, recalled, history, tokens, dropped)


def cited_numbers(reply: str, available: int) -> set[int]:
    """The source numbers a reply cites, among 1..available."""
    return {n for n in map(int, CITATION.findall(reply)) if 1 <= n <= available}


def cited_sources(reply: str, sources: list[Source]) -> list[Citation]:
    """The sources a reply was given, numbered as in its prompt, each saying whether the
    reply cites it: what every reply keeps and shows."""
    cited = cited_numbers(reply, len(sources))
    return [source.view(n, n in cited) for n, source in enumerate(sources, start=1)]


def _cost(text: str, count: Callable[[str], int]) -> int:
    return count(text) + MESSAGE_OVERHEAD


def _source_block(source: Source, number: int) -> str:
    return f"\n\n{source.heading(number)}\n{source.text}"


def _recalled_line(turn: Turn) -> str:
    return f"\n- {turn.role}: {turn.content}"


def _system(instructions: str, sources: list[Source], recalled: list[Turn]) -> str:
    parts = [instructions]
    if sources:
        parts.append(
            SOURCES_HEADING + "".join(_source_block(s, i + 1) for i, s in enumerate(sources))
        )
    if recalled:
        parts.append(RECALLED_HEADING + "".join(_recalled_line(t) for t in recalled))
    return "".join(parts)

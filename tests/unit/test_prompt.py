"""The prompt builder's budget and citation mapping, and the hot history cache: pure code,
asserted on the built prompt. Token counts here are words (any counter will do)."""

from __future__ import annotations

import pytest

from neurocache.conversations.history import HotHistory
from neurocache.replies.prompt import (
    INSTRUCTIONS,
    PromptTooLong,
    Source,
    Turn,
    build_prompt,
    cited_numbers,
)


def words(text: str) -> int:
    return len(text.split())


def source(n: int, size: int = 50) -> Source:
    return Source(
        memory_id=f"m{n}",
        text=" ".join([f"fact{n}"] * size),
        score=1 / n,
        title=f"Doc {n}",
        url=f"https://example.org/{n}",
        page=n,
    )


def total(prompt) -> int:
    return sum(words(m["content"]) + 8 for m in prompt.messages)


def test_everything_fits_in_a_roomy_budget_and_sources_are_numbered():
    prompt = build_prompt(
        "What is fact1?",
        history=[Turn("user", "hi"), Turn("assistant", "hello")],
        sources=[source(1), source(2)],
        recalled=[Turn("user", "old")],
        budget=10_000,
        count=words,
    )
    system = prompt.messages[0]["content"]
    assert system.startswith(INSTRUCTIONS)
    assert "[1] Doc 1 — https://example.org/1 — page 1\nfact1" in system
    assert "[2] Doc 2" in system and "- user: old" in system
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[-1]["content"] == "What is fact1?"
    assert prompt.dropped == {"recalled": 0, "sources": 0, "history": 0}


@pytest.mark.parametrize("budget", [400, 300, 250, 200, 150])
def test_the_least_useful_goes_first_and_the_prompt_never_overflows(budget):
    prompt = build_prompt(
        "the question",
        history=[Turn("user", "one " * 20), Turn("assistant", "two " * 20)],
        sources=[source(1), source(2), source(3)],
        recalled=[Turn("user", "r1 " * 10), Turn("user", "r2 " * 10)],
        budget=budget,
        count=words,
    )
    assert total(prompt) <= budget
    kept = [s.memory_id for s in prompt.sources]
    assert kept == ["m1", "m2", "m3"][: len(kept)]  # the most relevant stay
    if prompt.dropped["sources"]:
        assert prompt.recalled == []  # recalled turns went before any source
    if prompt.dropped["history"]:
        assert prompt.sources == []  # sources went before this conversation's turns
        assert prompt.history[-1:] == [Turn("assistant", "two " * 20)][: len(prompt.history)]


def test_a_question_too_long_for_the_model_is_refused():
    with pytest.raises(PromptTooLong) as refused:
        build_prompt("word " * 500, history=[], sources=[], recalled=[], budget=300, count=words)
    assert refused.value.status == 422 and refused.value.details["limit"] == 285


def test_citations_map_to_the_numbered_sources():
    assert cited_numbers("Salmon swim upstream [1][3], see [7] and [x].", 3) == {1, 3}
    view = source(2).view(1, cited=True)
    assert view.number == 1 and view.cited and view.quote.startswith("fact2")
    assert view.page == 2 and view.url == "https://example.org/2"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_hot_history_expires_by_activity_and_reloads_from_the_store():
    clock = Clock()
    cache = HotHistory(active_ttl_s=24 * 3600, idle_ttl_s=3600, clock=clock)
    store = [("a", Turn("user", "hi"))]
    loads = []

    def load():
        loads.append(1)
        return list(store)

    assert cache.get("c", load) == store and len(loads) == 1  # a miss reads the store
    cache.set("c", store)  # a new message: active
    clock.now = 23 * 3600
    assert cache.get("c", load) == store and len(loads) == 1  # still hot after 23 h
    clock.now = 25 * 3600
    cache.get("c", load)
    assert len(loads) == 2  # expired a day after the last message: read again
    clock.now += 1800
    cache.get("c", load)
    assert len(loads) == 2  # only read: kept an hour
    clock.now += 3700
    cache.get("c", load)
    assert len(loads) == 3
    cache.extend("c", "a", "b", Turn("assistant", "hello"))
    assert [i for i, _ in cache.get("c", load)] == ["a", "b"]
    cache.extend("c", "zzz", "x", Turn("user", "elsewhere"))  # another branch: not kept
    assert [i for i, _ in cache.get("c", load)] == ["a", "b"]


def test_hot_history_keeps_a_bounded_number_of_conversations():
    cache = HotHistory(max_conversations=2)
    for name in ("a", "b", "c"):
        cache.set(name, [])
    loads = []
    cache.get("a", lambda: loads.append(1) or [])
    assert loads == [1]  # the oldest was evicted


def test_history_keeps_whole_exchanges_so_turns_alternate():
    from neurocache.conversations.answering import exchanges

    turns = [
        Turn("user", "a"),
        Turn("assistant", "A"),
        Turn("user", "b (its reply failed)"),
        Turn("user", "c"),
        Turn("assistant", "C"),
        Turn("user", "d (no reply yet)"),
    ]
    assert exchanges(turns) == [turns[0], turns[1], turns[3], turns[4]]
    prompt = build_prompt(
        "q",
        history=exchanges(turns),
        sources=[],
        recalled=[],
        budget=int((words(INSTRUCTIONS) + 60) / 0.95),
        count=words,
    )
    roles = [m["role"] for m in prompt.messages[1:-1]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)  # dropped a pair at a time

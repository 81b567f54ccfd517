"""What a conversation needs of a chat model: a client, the model's name on its server, its
context size, and a way to count tokens as the model does."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from neurocache.llm.client import OpenAIClient
from neurocache.llm.llama_loading import open_llama

BYTES_PER_TOKEN_BOUND = 3  # without the model's tokenizer: a cautious estimate (≈4 in English)


@dataclass(frozen=True)
class ChatBackend:
    model_id: str
    client: OpenAIClient
    served_name: str | None  # the `model` field its server expects, when it cares
    context_tokens: int
    count_tokens: Callable[[str], int]
    # count_usage(tokens_in=, tokens_out=): what a reply cost, for the usage time series
    count_usage: Callable[..., None] = lambda **_tokens: None


def estimate_tokens(text: str) -> int:
    return len(text.encode("utf-8")) // BYTES_PER_TOKEN_BOUND + 1


class GgufTokenizer:
    """The model's own tokenizer, read from its GGUF file (vocabulary only: a few MB, loaded
    in milliseconds), so a prompt is measured exactly as the model server will see it."""

    def __init__(self, path: Path) -> None:
        self._llama = open_llama(path, vocab_only=True)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        return self._count(text)

    @functools.lru_cache(maxsize=2048)  # noqa: B019 (one tokenizer per model, kept for good)
    def _count(self, text: str) -> int:
        """Cached: the same passages come back for question after question, and a prompt
        of six of them took 2.3 ms to count."""
        with self._lock:
            return len(
                self._llama.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=True)
            )

    def close(self) -> None:
        self._llama.close()

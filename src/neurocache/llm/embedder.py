"""Embeddings in-process with llama.cpp: the built-in all-MiniLM-L6-v2, or any GGUF
embedding model.

llama.cpp aborts the whole process (GGML_ASSERT) on a sequence past the model's
positions, or on several sequences in one batch when `n_ubatch < n_batch`; and
`Llama.embed` truncates to `n_batch` and drops the final `[SEP]`. So this module
tokenizes and truncates itself (`[CLS]` + at most 254 pieces + `[SEP]`), keeps
`n_ubatch == n_batch`, packs small batches (their cost grows with the square of their
tokens), and runs them on several single-thread contexts in parallel.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurocache.errors import Unavailable
from neurocache.llm.llama_loading import open_llama
from neurocache.threads import Threads

if TYPE_CHECKING:  # imported when a model ships its tokenizer
    from tokenizers import Tokenizer

BUILTIN_DIR = Path(__file__).with_name("builtin")
BUILTIN_MODEL = BUILTIN_DIR / "all-minilm-l6-v2-f16.gguf"
BUILTIN_TOKENIZER = BUILTIN_MODEL.with_suffix(".tokenizer.json")
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained on (its position table has 512)
CHARS_PER_TOKEN_BOUND = 32  # text beyond MAX_TOKENS * this cannot reach the model anyway
BATCH_TOKENS = 512
BATCH_NICENESS = 10  # how much lower the priority of batch threads than a query's
# BERT's WordPiece reads a word of more than 100 characters as [UNK]; llama.cpp splits it
# instead. A word is a run of letters and digits (CJK characters are words of their own).
CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
OVERLONG_WORD = re.compile(rf"(?:(?![{CJK}])[^\W_]){{101,}}")


class LlamaEmbedder:
    """Thread-safe; `embed` returns unit-length float32 vectors."""

    def __init__(
        self,
        model_path: Path = BUILTIN_MODEL,
        *,
        contexts: int = 2,
        threads_per_context: int = 1,
        max_tokens: int = MAX_TOKENS,
        texts_per_batch: int = 4,
        name: str | None = None,
        tokenizer_path: Path | None = None,
        threads: Threads | None = None,
    ) -> None:
        threads = threads or Threads()
        if not model_path.is_file():
            raise Unavailable(
                f"the embedding model {model_path} is missing; the built-in one is built by "
                "`make` (build_scripts/convert_minilm.py)"
            )
        self.name = name or model_path.stem
        self.max_tokens = max_tokens
        self.texts_per_batch = texts_per_batch
        self.threads_per_context = threads_per_context
        self.threads_in_all = contexts * threads_per_context
        first = open_llama(
            model_path,
            embedding=True,
            n_ctx=BATCH_TOKENS,
            n_batch=BATCH_TOKENS,
            n_ubatch=BATCH_TOKENS,
            n_threads=threads_per_context,
            n_threads_batch=threads_per_context,
            n_seq_max=texts_per_batch,
            flash_attn=True,
        )
        self._llama = first
        # The other contexts share the first one's weights: a Llama each loaded the model
        # again (about 100 MB more per context for the built-in one).
        # One more context only for lone batches (a search's query): it never waits behind
        # an ingestion's batches, whose threads run at a lower priority.
        self._contexts = [(first._ctx, first._batch)] + [
            self._shared_context(first, texts_per_batch) for _ in range(contexts)
        ]
        self._query_slot = contexts
        self.dimension = first.n_embd()
        import llama_cpp

        positions = llama_cpp.llama_model_n_ctx_train(first._model.model)
        self.max_tokens = min(self.max_tokens, positions, BATCH_TOKENS)
        # BERT-style models: [CLS] ... [SEP]; a model without them gets neither.
        self._prefix = [first.token_bos()] if first.token_bos() >= 0 else []
        self._suffix = [first.token_eos()] if first.token_eos() >= 0 else []
        self._hf_tokenizer = self._load_tokenizer(tokenizer_path)
        # Each context keeps one thread of its own: llama.cpp's OpenMP team then stays with
        # it, instead of teams on two threads spinning against each other (a query took
        # 8-9 ms instead of 4.5 once two threads had served it; bench/search.py).
        self._workers = [
            threads.pool(f"embed-{i}", 1, initializer=_lower_priority) for i in range(contexts)
        ] + [threads.pool("embed-query", 1)]
        self._query_busy = False
        self._free = list(range(contexts))
        self._freed = threading.Condition()
        self._urgent_waiting = 0
        self._tokenize_lock = threading.Lock()

    @staticmethod
    def _shared_context(first: Any, texts_per_batch: int) -> tuple[Any, Any]:
        from llama_cpp import _internals

        context = _internals.LlamaContext(
            model=first._model, params=first.context_params, verbose=False
        )
        batch = _internals.LlamaBatch(
            n_tokens=BATCH_TOKENS, embd=0, n_seq_max=texts_per_batch, verbose=False
        )
        return context, batch

    def _load_tokenizer(self, path: Path | None) -> Tokenizer | None:
        """The model's own tokenizer when it ships one (the built-in model does)."""
        if path is None or not path.is_file():
            return None
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.no_padding()
        return tokenizer

    def tokens(self, text: str) -> list[int]:
        """`[CLS]` + pieces + `[SEP]`, at most `max_tokens`. Literal `[CLS]`/`[SEP]` in the
        text count as those tokens, as the model's own tokenizer has it."""
        text = text[: self.max_tokens * CHARS_PER_TOKEN_BOUND]
        if self._hf_tokenizer is not None:
            return self._hf_tokenizer.encode(text.encode("utf-8", "replace").decode()).ids
        text = OVERLONG_WORD.sub(" [UNK] ", text)
        raw = text.encode("utf-8", "replace")
        with self._tokenize_lock:
            pieces = self._llama.tokenize(raw, add_bos=False, special=True)
        room = self.max_tokens - len(self._prefix) - len(self._suffix)
        return [*self._prefix, *pieces[:room], *self._suffix]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        token_lists = [self.tokens(text) for text in texts]
        batches = list(self._batches(token_lists))
        # One batch (a search query) gets every thread: it halves its latency (measured:
        # 4.1 → 2.2 ms for a short query); many batches get one context each.
        threads = self.threads_in_all if len(batches) == 1 else self.threads_per_context
        pending = []
        for indices, tokens in batches:
            slot = self._take_context(urgent=len(batches) == 1)
            try:
                future = self._workers[slot].submit(self._embed_batch, slot, tokens, threads)
            except RuntimeError:  # closed: give the context back, or later calls would wait
                self._give_back(slot)
                raise
            future.add_done_callback(self._give_back_when_done(slot))
            pending.append((indices, future))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for indices, future in pending:
            out[indices] = future.result()
        return out

    def _batches(self, token_lists: list[list[int]]) -> Iterator[tuple[list[int], list]]:
        """Consecutive texts in as many batches as the limits need, rounded up to a multiple
        of the contexts and evenly filled, so that no context idles while another finishes
        (a 6-chunk document in 3 batches left one core idle a third of the time)."""
        count, contexts = len(token_lists), self._query_slot  # the batch contexts
        total = sum(len(tokens) for tokens in token_lists)
        wanted = max(math.ceil(count / self.texts_per_batch), math.ceil(total / BATCH_TOKENS))
        if count >= contexts:
            wanted = math.ceil(wanted / contexts) * contexts
        for group in np.array_split(np.arange(count), wanted):
            yield from self._within_token_limit(group.tolist(), token_lists)

    @staticmethod
    def _within_token_limit(
        indices: list[int], token_lists: list[list[int]]
    ) -> Iterator[tuple[list[int], list]]:
        batch: list[int] = []
        total = 0
        for index in indices:
            size = len(token_lists[index])
            if batch and total + size > BATCH_TOKENS:
                yield batch, [token_lists[i] for i in batch]
                batch, total = [], 0
            batch.append(index)
            total += size
        if batch:
            yield batch, [token_lists[i] for i in batch]

    def _take_context(self, urgent: bool) -> int:
        """A lone batch (a search's query) takes the query context when it is free: it
        never waits behind an ingestion. Otherwise the lowest free batch context (a lone
        one then runs on context 0, whose thread team is already the right size: switching
        cost up to 2x); a lone batch goes before the batches of an ingestion waiting."""
        with self._freed:
            if urgent and not self._query_busy:
                self._query_busy = True
                return self._query_slot
            self._urgent_waiting += urgent
            try:
                self._freed.wait_for(lambda: self._free and (urgent or not self._urgent_waiting))
            finally:
                self._urgent_waiting -= urgent
                if urgent and not self._urgent_waiting:
                    self._freed.notify_all()  # batches held back for it may go now
            slot = min(self._free)
            self._free.remove(slot)
            return slot

    def _give_back(self, slot: int) -> None:
        with self._freed:
            if slot == self._query_slot:
                self._query_busy = False
            else:
                self._free.append(slot)
            self._freed.notify_all()

    def _give_back_when_done(self, slot: int) -> Callable[[Future[np.ndarray]], None]:
        """A done callback that gives `slot` back, however the batch on it ended."""
        return lambda _done: self._give_back(slot)

    def _embed_batch(self, slot: int, token_lists: list[list[int]], threads: int) -> np.ndarray:
        import llama_cpp

        context, batch = self._contexts[slot]
        llama_cpp.llama_set_n_threads(context.ctx, threads, threads)
        # Llama.embed cannot take token ids, so this does what it does, with ours.
        context.kv_cache_clear()
        batch.reset()
        for seq_id, tokens in enumerate(token_lists):
            batch.add_sequence(tokens, seq_id, True)
        context.decode(batch)
        vectors = np.array(
            [
                np.ctypeslib.as_array(
                    llama_cpp.llama_get_embeddings_seq(context.ctx, i), shape=(self.dimension,)
                )
                for i in range(len(token_lists))
            ],
            dtype=np.float32,
        )
        batch.reset()
        context.kv_cache_clear()
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return unit

    def close(self) -> None:
        for worker in self._workers:
            worker.shutdown(wait=True)
        for context, batch in self._contexts[1:]:  # before the model they share
            batch.close()
            context.close()
        self._llama.close()


def _lower_priority() -> None:
    """An ingestion's embedding threads yield the CPU to a search's (Linux: a thread's own
    niceness; elsewhere this does nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BATCH_NICENESS)


class RemoteEmbedder:
    """An embedding model served over the OpenAI protocol (a remote server)."""

    def __init__(self, client: object, model: str | None, name: str) -> None:
        self.client = client
        self.model = model
        self.name = name
        self.dimension = len(self.embed(["dimension probe"])[0])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        vectors = np.array(
            self.client.embeddings(list(texts), self.model),  # type: ignore[attr-defined]
            dtype=np.float32,
        )
        unit: np.ndarray = vectors / np.maximum(
            np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12
        )
        return unit

    def close(self) -> None:
        pass

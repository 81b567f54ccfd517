"""A cross-encoder reranker, in-process with llama.cpp: a GGUF whose pooling is RANK
(a small bge or jina reranker) reads the query and a passage together and says how well
the passage answers it: one score per pair, higher is better.

Each pair is `[BOS] query [EOS] [SEP] passage [EOS]`, as llama.cpp's own server formats
rerank requests; several pairs go in one batch, each its own sequence."""

from __future__ import annotations

import threading
from pathlib import Path

from neurocache.errors import Unavailable
from neurocache.llm.llama_loading import open_llama

CONTEXT_TOKENS = 512
QUERY_TOKENS = 64  # a query longer than this is cut: the passage needs the room
PAIRS_PER_BATCH = 8
# Pairs packed per batch up to this many tokens (one longer pair goes alone). Attention
# spans the whole batch, so small batches cost less (bench/rerank.py, 30 passages of ~220
# tokens, MiniLM-L6 shape): 4096-token batches 11.3 s; 512 4.0 s; 256 2.6 s; with flash
# attention 256 1.8 s, as fast as the embedder does the same tokens.
BATCH_TOKENS = 256


class LlamaReranker:
    def __init__(self, model_path: Path, *, threads: int = 2, name: str | None = None) -> None:
        if not model_path.is_file():
            raise Unavailable(f"the reranker model {model_path} is missing")
        import llama_cpp

        self.name = name or model_path.stem
        self._llama = open_llama(
            model_path,
            embedding=True,
            pooling_type=llama_cpp.LLAMA_POOLING_TYPE_RANK,
            n_ctx=CONTEXT_TOKENS,
            n_batch=CONTEXT_TOKENS,
            n_ubatch=CONTEXT_TOKENS,
            flash_attn=True,
            n_seq_max=PAIRS_PER_BATCH,
            n_threads=threads,
            n_threads_batch=threads,
        )
        self._lock = threading.Lock()  # one context: one batch at a time
        self._bos, self._eos = self._llama.token_bos(), self._llama.token_eos()
        sep = llama_cpp.llama_vocab_sep(llama_cpp.llama_model_get_vocab(self._llama._model.model))
        self._sep = [sep] if sep >= 0 else []

    def score(self, query: str, passages: list[str]) -> list[float]:
        """How well each passage answers the query (the model's own scale)."""
        if not passages:
            return []
        asked = self._tokens(query)[:QUERY_TOKENS]
        pairs = [self._pair(asked, self._tokens(p)) for p in passages]
        scores: list[float] = []
        with self._lock:
            for batch in self._batches(pairs):
                scores += self._score_batch(batch)
        return scores

    def _tokens(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False)

    def _pair(self, query: list[int], passage: list[int]) -> list[int]:
        head = [t for t in (self._bos,) if t >= 0] + query + [self._eos] + self._sep
        room = CONTEXT_TOKENS - len(head) - 1
        return head + passage[:room] + [self._eos]

    @staticmethod
    def _batches(pairs: list[list[int]]) -> list[list[list[int]]]:
        """Pairs packed up to BATCH_TOKENS, at most PAIRS_PER_BATCH at a time."""
        budget = BATCH_TOKENS
        batches: list[list[list[int]]] = [[]]
        for pair in pairs:
            used = sum(len(p) for p in batches[-1])
            if batches[-1] and (used + len(pair) > budget or len(batches[-1]) == PAIRS_PER_BATCH):
                batches.append([])
            batches[-1].append(pair)
        return batches

    def _score_batch(self, pairs: list[list[int]]) -> list[float]:
        import llama_cpp

        llama = self._llama
        llama._ctx.kv_cache_clear()
        llama._batch.reset()
        for seq_id, tokens in enumerate(pairs):
            llama._batch.add_sequence(tokens, seq_id, True)
        llama._ctx.decode(llama._batch)
        scores = [
            float(llama_cpp.llama_get_embeddings_seq(llama._ctx.ctx, i)[0])
            for i in range(len(pairs))
        ]
        llama._batch.reset()
        llama._ctx.kv_cache_clear()
        return scores

    def close(self) -> None:
        self._llama.close()

"""What a reranker costs: 30 candidates scored by a cross-encoder through the hub's
LlamaReranker (llama.cpp, rank pooling), on this machine's cores.

No real reranker weights are here (none may be fetched), but a transformer's cost does not
depend on its weights' values: random-weight GGUFs of the shapes of real rerankers (built
as the tests build theirs, tests/support/tiny_gguf.py) cost what the real ones do, for the
same tokens. Shapes: ms-marco-MiniLM-L-6-v2 (6 layers, 384 wide — the built-in embedder's
architecture) and bge-reranker-base (12 layers, 768 wide); f32 weights.

    python bench/rerank.py [--runs 3] [--candidates 30]

Prints a table and writes bench/results/rerank.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _table import print_table  # noqa: E402
from neurocache.llm.reranker import LlamaReranker  # noqa: E402
from tests.support.recall_corpus import conversations, documents  # noqa: E402
from tests.support.tiny_gguf import write_tiny_reranker  # noqa: E402

SHAPES = {
    "MiniLM-L6 (ms-marco-MiniLM-L-6-v2)": {"n_embd": 384, "n_layer": 6, "n_head": 12, "n_ff": 1536},
    "bge-reranker-base": {"n_embd": 768, "n_layer": 12, "n_head": 12, "n_ff": 3072},
}


def passages(count: int) -> dict[str, list[str]]:
    turns = [t.content for t in conversations(0, pairs=2, sessions=4).turns]
    chunks = [d["text"][:900] for d in documents(0, count=count).documents]
    return {"turns": turns[:count], "chunks (~200 tokens)": chunks[:count]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=30)
    args = parser.parse_args()
    query = "What did the doctor say about the shoulder after the fall last week?"
    rows = []
    with tempfile.TemporaryDirectory(prefix="nc-bench-rerank-") as temp:
        for shape, dims in SHAPES.items():
            path = write_tiny_reranker(Path(temp) / "reranker.gguf", **dims)
            reranker = LlamaReranker(path)
            for kind, texts in passages(args.candidates).items():
                reranker.score(query, texts[:4])  # warm
                spent = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    reranker.score(query, texts)
                    spent.append((time.perf_counter() - started) * 1000)
                rows.append(
                    {
                        "shape": shape,
                        "passages": kind,
                        "candidates": len(texts),
                        "p50 ms": round(statistics.median(spent), 1),
                        "min ms": round(min(spent), 1),
                    }
                )
                print_table(rows[-1:])
            reranker.close()
    print_table(rows, f"Reranking {args.candidates} candidates (random weights, real shapes)")
    out = HERE / "results" / "rerank.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

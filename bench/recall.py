"""Recall: does the search find the memory that answers, next to baselines, in one run.

The corpus is our own (tests/support/recall_corpus.py): a long multi-session chat history
of several pairs of friends, facts stated once among small talk and asked about later in
other words (paraphrase, a name, a date, a fact that changed, an answer whose meaning is
in the turn before), and a document corpus with its own questions. The turns go to a real
hub on loopback through `POST /api/v1/memories` (as a plugin writes them: `thread`,
`speaker`, `at`), the documents through `POST /api/v1/documents`; every question is then
asked over HTTP (`POST /api/v1/search`) in each mode. Beside it, in this process, on the
same texts:

- bare BM25: SQLite FTS5 (porter, unicode61) over the texts, the question's words ORed;
- bare vectors: the same built-in MiniLM GGUF through llama_cpp, exact FAISS inner product;
- naive RRF: reciprocal rank fusion (k = 60) of those two lists.

Printed: R@5, R@10 (the share of a question's evidence in the top k, averaged) and hit@10
(any of it in the top 10), per corpus and per kind of question, with p50/p95 latency.

    python bench/recall.py [--pairs 8] [--sessions 20] [--documents 40] [--seed 0]

Writes bench/results/recall.json.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _http import LeanClient  # noqa: E402
from _table import print_table  # noqa: E402
from neurocache.app import create_app, hub_of  # noqa: E402
from neurocache.settings import Settings  # noqa: E402
from neurocache.web.server import HubServer  # noqa: E402
from tests.support.baselines import Bare  # noqa: E402
from tests.support.recall_corpus import Corpus, Question, conversations, documents  # noqa: E402

K = 10
WORD = re.compile(r"\w+")


def recall(ranked: list[str], evidence: list[str], k: int) -> float:
    return len(set(ranked[:k]) & set(evidence)) / len(evidence)


def score(runs: list[tuple[Question, list[str], float]]) -> dict:
    by_kind: dict[str, list] = defaultdict(list)
    for question, ranked, seconds in runs:
        by_kind[question.kind].append((question, ranked, seconds))
    summary = {kind: _summary(rows) for kind, rows in sorted(by_kind.items())}
    summary["all"] = _summary(runs)
    return summary


def _summary(runs: list) -> dict:
    ms = sorted(seconds * 1000 for _q, _r, seconds in runs)
    return {
        "questions": len(runs),
        "R@5": round(statistics.mean(recall(r, q.evidence, 5) for q, r, _ in runs), 3),
        "R@10": round(statistics.mean(recall(r, q.evidence, 10) for q, r, _ in runs), 3),
        "hit@10": round(
            statistics.mean(bool(set(r[:10]) & set(q.evidence)) for q, r, _ in runs), 3
        ),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.95))], 2),
    }


def timed(search, questions: list[Question]) -> list[tuple[Question, list[str], float]]:
    runs = []
    for question in questions:
        started = time.perf_counter()
        ranked = search(question.text)
        runs.append((question, ranked, time.perf_counter() - started))
    return runs


class HubUnderTest:
    """A real hub on loopback, fed as a plugin feeds it, asked over HTTP."""

    def __init__(self, data_dir: Path) -> None:
        self.app = create_app(
            Settings(data_dir=data_dir, log_level="WARNING", rate_limit_owner=False)
        )
        self.hub = hub_of(self.app)
        self.server = HubServer(self.app, "127.0.0.1", 0).start()
        self.http = LeanClient(self.server.url, self.hub.owner_token.value)
        self.keys: dict[str, str] = {}  # memory id -> corpus key

    def load(self, corpus: Corpus) -> dict[str, float]:
        """Seconds to write the turns (200 a request: stored, embedded and indexed when it
        answers) and to index the documents."""
        started = time.perf_counter()
        for start in range(0, len(corpus.turns), 200):
            batch = corpus.turns[start : start + 200]
            answer = self.http.post("/api/v1/memories", [t.memory() for t in batch], 600)
            for turn, memory in zip(batch, answer["memories"], strict=True):
                self.keys[memory["id"]] = turn.key
        turns_s = time.perf_counter() - started
        for document in corpus.documents:
            answer = self.http.post(
                "/api/v1/documents", {"title": document["title"], "text": document["text"]}
            )
            self.keys[answer["document"]["id"]] = document["key"]
        assert self.hub.jobs.wait_idle(3600)
        return {"turns_s": turns_s, "documents_s": time.perf_counter() - started - turns_s}

    def search(self, mode: str, kinds: list[str] | None = None):
        """Ask over HTTP; `kinds` keeps a corpus's questions to its own memories (the
        baselines search only that corpus's texts)."""

        def ask(question: str) -> list[str]:
            answer = self.http.post(
                "/api/v1/search", {"query": question, "k": K, "mode": mode, "kinds": kinds}
            )
            return [self._key(r) for r in answer["results"]]

        return ask

    def _key(self, result: dict) -> str:
        document = result.get("document")
        if document is not None:  # a chunk answers for its document
            return self.keys.get(document["id"], result["memory_id"])
        return self.keys.get(result["memory_id"], result["memory_id"])

    def close(self) -> None:
        self.server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    chats = conversations(args.seed, pairs=args.pairs, sessions=args.sessions)
    notes = documents(args.seed, count=args.documents)
    with tempfile.TemporaryDirectory(prefix="nc-bench-recall-") as temp:
        under_test = HubUnderTest(Path(temp) / "hub")
        try:
            loaded = under_test.load(Corpus(chats.turns, [], notes.documents))
            results = evaluate(under_test, chats, notes)
        finally:
            under_test.close()
    report(args, chats, notes, results, loaded)


def evaluate(under_test: HubUnderTest, chats: Corpus, notes: Corpus) -> dict:
    embedder = under_test.hub.embedder
    chunk_keys, chunk_texts = document_chunks(under_test)
    bare_chats = Bare([t.key for t in chats.turns], [t.content for t in chats.turns], embedder)
    bare_notes = Bare(chunk_keys, chunk_texts, embedder)
    results: dict[str, dict] = {}
    for corpus_name, questions, bare, kind in (
        ("conversations", chats.questions, bare_chats, "turn"),
        ("documents", notes.questions, bare_notes, "chunk"),
    ):
        legs = {"bare BM25": bare.bm25, "bare vectors": bare.vectors, "naive RRF": bare.rrf}
        legs |= {
            f"hub {mode}": under_test.search(mode, [kind])
            for mode in ("hybrid", "vector", "fulltext")
        }
        for search in legs.values():
            timed(search, questions[:5])  # warm up
        runs = interleaved(legs, questions)
        results[corpus_name] = {name: score(runs[name]) for name in legs}
    return results


def interleaved(legs: dict, questions: list[Question]) -> dict[str, list]:
    """Every leg asked each question in turn, so that the machine's noise falls on all of
    them alike."""
    runs: dict[str, list] = {name: [] for name in legs}
    for question in questions:
        for name, search in legs.items():
            runs[name] += timed(search, [question])
    return runs


def document_chunks(under_test: HubUnderTest) -> tuple[list[str], list[str]]:
    """The hub's own chunks of the documents (the baselines search the same passages)."""
    from sqlalchemy import select

    from neurocache.store.tables import Memory

    with under_test.hub.db.session() as session:
        rows = session.execute(
            select(Memory.content, Memory.meta).where(Memory.kind == "chunk")
        ).all()
    return [under_test.keys[meta["document_id"]] for _c, meta in rows], [c for c, _m in rows]


def report(
    args: argparse.Namespace, chats: Corpus, notes: Corpus, results: dict, loaded: dict[str, float]
) -> None:
    for corpus_name, by_leg in results.items():
        rows = [
            {"search": leg, **{k: v for k, v in summary["all"].items()}}
            for leg, summary in by_leg.items()
        ]
        print_table(rows, f"Recall on {corpus_name} ({rows[0]['questions']} questions)")
        kinds = [k for k in next(iter(by_leg.values())) if k != "all"]
        if len(kinds) > 1:
            print_table(
                [
                    {"search": leg, **{kind: summary[kind]["R@10"] for kind in kinds}}
                    for leg, summary in by_leg.items()
                ],
                f"R@10 on {corpus_name}, by kind of question",
            )
    gain = (
        results["conversations"]["hub hybrid"]["all"]["R@10"]
        - results["conversations"]["naive RRF"]["all"]["R@10"]
    )
    latency = {
        corpus_name: round(
            by_leg["hub hybrid"]["all"]["p50_ms"] / by_leg["naive RRF"]["all"]["p50_ms"], 2
        )
        for corpus_name, by_leg in results.items()
    }
    writes = len(chats.turns) / loaded["turns_s"]
    print(
        f"hub hybrid - naive RRF, R@10 on conversations: {gain:+.3f}\n"
        f"hub hybrid p50 over HTTP / naive RRF p50 in-process: {latency}\n"
        f"{len(chats.turns)} turns written in {loaded['turns_s']:.1f} s ({writes:.0f}/s, "
        f"200 a request, embedded when answered); {len(notes.documents)} documents "
        f"indexed in {loaded['documents_s']:.1f} s"
    )
    out = HERE / "results" / "recall.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "turns": len(chats.turns),
                "documents": len(notes.documents),
                "load": loaded,
                "writes_per_s": writes,
                "latency_ratio": latency,
                "gain_r10": gain,
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()

"""Time to first token and tokens/s through the hub, next to the model server called
directly with the same prompt, in one run.

A hub runs in this process with a chat model under its supervisor (the tiny random GGUF
by default, or `--model PATH` for a real one) and a small corpus for retrieval. For each
trial a distinct question is asked; p50 over the trials of:

- direct: the model server's own `/v1/chat/completions`, streamed, with exactly the prompt
  the hub would send (RAG on: the instructions and retrieved sources in front);
- hub HTTP: `POST /v1/chat/completions` (streamed SSE), RAG off and on;
- hub Socket.IO: `POST /api/v1/conversations/{id}/messages`, first `message.delta` event
  to `message.completed`, RAG on (what the browser sees).

"added ms" is hub TTFT - direct TTFT; "tok/s ratio" is hub / direct.

    python bench/chat.py [--trials 30] [--max-tokens 64] [--model PATH]

Prints a table and writes bench/results/chat.json.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import socketio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _table import print_table  # noqa: E402
from neurocache.app import create_app, hub_of  # noqa: E402
from neurocache.llm.client import parse_sse  # noqa: E402
from neurocache.settings import Settings  # noqa: E402
from neurocache.store.audit import Actor  # noqa: E402
from neurocache.web.server import HubServer  # noqa: E402
from tests.support.tiny_gguf import write_tiny_llama  # noqa: E402

TOPICS = ["river", "mountain", "library", "engine", "garden", "orbit", "harbour", "forest"]


def corpus(hub, documents: int = 40) -> None:
    for n in range(documents):
        topic = TOPICS[n % len(TOPICS)]
        body = " ".join(
            f"The {topic} note {n} line {i} tells of {TOPICS[(n + i) % 8]}." for i in range(30)
        )
        hub.knowledge.add_text(title=f"{topic} {n}", body=body, fmt="text", actor=Actor("b"))
    hub.jobs.wait_idle(600)


def timed_stream(chunks) -> tuple[float, float, int]:
    """(seconds to the first text, tokens/s after it, deltas) of a stream of chunks."""
    started, first, count = time.perf_counter(), None, 0
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                first = first or time.perf_counter()
                count += 1
    end = time.perf_counter()
    first = first or end
    rate = (count - 1) / (end - first) if count > 1 and end > first else 0.0
    return first - started, rate, count


def sse(url: str, headers: dict, body: dict):
    with requests.post(url, json=body, headers=headers, stream=True, timeout=600) as response:
        response.raise_for_status()
        yield from parse_sse(response.iter_lines(decode_unicode=True))


class Trials:
    def __init__(self, hub, url: str, model_url: str, max_tokens: int) -> None:
        self.hub, self.url, self.model_url, self.max_tokens = hub, url, model_url, max_tokens
        self.headers = {"Authorization": f"Bearer {hub.owner_token.value}"}

    def body(self, question: str, rag: bool | None) -> dict:
        body = {
            "model": "bench",
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "messages": [{"role": "user", "content": question}],
        }
        if rag is not None:
            body["neurocache"] = {"rag": rag}
        return body

    def forget_prompt(self) -> None:
        """The server keeps the last prompt's cache; a short other prompt evicts it, so each
        way starts from the same cold state (else the second to send a prompt wins)."""
        body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 1}
        requests.post(
            self.model_url.rstrip("/").removesuffix("/v1") + "/v1/chat/completions",
            json=body,
            timeout=60,
        ).raise_for_status()

    def direct(self, question: str, rag: bool) -> tuple[float, float, int]:
        prepared = self.hub.completions.prepare(self.body(question, rag), None)
        body = {**prepared.body, "stream": True}
        return timed_stream(
            sse(self.model_url.rstrip("/").removesuffix("/v1") + "/v1/chat/completions", {}, body)
        )

    def hub_http(self, question: str, rag: bool) -> tuple[float, float, int]:
        return timed_stream(
            sse(self.url + "/v1/chat/completions", self.headers, self.body(question, rag or None))
        )

    def hub_socketio(
        self, question: str, client: socketio.Client, events: queue.Queue
    ) -> tuple[float, float, int]:
        conversation = self.hub.conversations.create(Actor("b"), long_term=False)
        assert client.call("join", {"room": f"conversation:{conversation.id}"})["ok"]
        started = time.perf_counter()
        requests.post(
            f"{self.url}/api/v1/conversations/{conversation.id}/messages",
            json={"content": question},
            headers=self.headers,
            timeout=60,
        )
        first, count = None, 0
        while True:
            event, _ = events.get(timeout=120)
            if event == "message.completed":
                break
            first, count = first or time.perf_counter(), count + 1
        end = time.perf_counter()
        first = first or end
        return first - started, (count - 1) / (end - first) if count > 1 else 0.0, count


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def run(trials: Trials, count: int) -> list[dict]:
    events: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    client.on("message.delta", lambda data: events.put(("message.delta", data)))
    client.on("message.completed", lambda data: events.put(("message.completed", data)))
    client.connect(
        trials.url, auth={"token": trials.hub.owner_token.value}, transports=["websocket"]
    )
    results: dict[str, list[tuple[float, float, int]]] = {}
    ways = {
        "direct, RAG off": lambda q: trials.direct(q, False),
        "hub HTTP, RAG off": lambda q: trials.hub_http(q, False),
        "direct, RAG on": lambda q: trials.direct(q, True),
        "hub HTTP, RAG on": lambda q: trials.hub_http(q, True),
        "hub Socket.IO, RAG on": lambda q: trials.hub_socketio(q, client, events),
    }
    try:
        for n in range(count):  # interleaved, so that noise falls on every way alike
            question = f"What does note {n} say about the {TOPICS[n % len(TOPICS)]}?"
            for name, way in ways.items():
                trials.forget_prompt()
                results.setdefault(name, []).append(way(question))
    finally:
        client.disconnect()
    return summarize(results)


def summarize(results: dict[str, list[tuple[float, float, int]]]) -> list[dict]:
    rows = []
    for name, runs in results.items():
        base = "direct, RAG on" if "RAG on" in name else "direct, RAG off"
        ttft, rate = p50([r[0] for r in runs]) * 1000, p50([r[1] for r in runs])
        base_ttft = p50([r[0] for r in results[base]]) * 1000
        base_rate = p50([r[1] for r in results[base]])
        rows.append(
            {
                "way": name,
                "TTFT p50 ms": round(ttft, 1),
                "tok/s p50": round(rate, 1),
                "tokens p50": p50([r[2] for r in runs]),
                "added ms": round(ttft - base_ttft, 1),
                "tok/s ratio": round(rate / base_rate, 2) if base_rate else "",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", type=Path, help="a GGUF chat model (default: tiny random)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nc-bench-chat-") as temp:
        model = args.model or write_tiny_llama(Path(temp) / "tiny.gguf", n_ctx=2048)
        app = create_app(
            Settings(
                data_dir=Path(temp) / "hub",
                chat_temperature=0,
                chat_max_reply_tokens=args.max_tokens,
            )
        )
        hub = hub_of(app)
        model_id = hub.models.register_local(str(model), Actor("b"))["id"]
        hub.models.start(model_id)
        while hub.models.get(model_id)["state"] != "running":
            time.sleep(0.1)
        corpus(hub)
        server = HubServer(app, "127.0.0.1", 0).start()
        try:
            trials = Trials(
                hub, server.url, hub.models._processes[model_id].base_url, args.max_tokens
            )
            trials.hub_http("warm up", True)
            rows = run(trials, args.trials)
        finally:
            server.stop()
    print_table(
        rows,
        f"Chat through the hub vs the model server ({args.trials} trials, "
        f"{'tiny random GGUF' if not args.model else args.model.name})",
    )
    out = HERE / "results" / "chat.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

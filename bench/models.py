"""Model manager benchmarks, each next to the raw thing underneath, in one run.

1. The built-in embedder (texts/s, tokens/s) against llama-cpp-python's plain
   `Llama.embed` on the same texts; plus the layouts tried (contexts x threads, texts per
   batch) and f16 against q8_0.
2. Model-server start time to ready (the tiny GGUF through `neurocache model-server`).
3. Download throughput of the hub's downloader against a raw streamed GET of the same
   file from the same loopback server.

    python bench/models.py [--texts 1000] [--quick]

Prints tables and writes bench/results/models.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _table import print_table  # noqa: E402
from build_scripts.convert_minilm import convert, source_dir  # noqa: E402
from neurocache.llm.downloader import Download, DownloadOptions  # noqa: E402
from neurocache.llm.embedder import (  # noqa: E402
    BUILTIN_MODEL,
    BUILTIN_TOKENIZER,
    LlamaEmbedder,
)
from neurocache.llm.processes import self_command  # noqa: E402
from neurocache.llm.supervisor import free_port  # noqa: E402
from tests.support.file_server import FileServer  # noqa: E402
from tests.support.tiny_gguf import write_tiny_llama  # noqa: E402

WORDS = [
    "memory",
    "hub",
    "local",
    "model",
    "search",
    "answer",
    "question",
    "document",
    "page",
    "note",
    "chat",
    "agent",
    "river",
    "mountain",
    "city",
    "light",
    "dark",
    "fast",
    "slow",
    "red",
    "green",
    "blue",
    "library",
    "index",
    "vector",
    "capture",
    "browser",
    "extension",
    "private",
    "offline",
    "source",
    "citation",
    "summary",
]


def corpus(count: int, words: int = 50, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(count)]


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def embedder_rows(texts: list[str], quick: bool) -> list[dict]:
    from llama_cpp import Llama

    rows = []
    plain = Llama(
        str(BUILTIN_MODEL), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512, verbose=False
    )
    plain.embed(texts[:8])
    seconds = timed(lambda: plain.embed(texts))
    tokens = sum(len(plain.tokenize(t.encode())) for t in texts)
    plain.close()
    baseline = len(texts) / seconds
    rows.append(
        {
            "embedder": "plain Llama.embed (list)",
            "texts_per_s": round(baseline, 1),
            "tokens_per_s": round(tokens / seconds),
            "vs_plain": 1.0,
        }
    )
    layouts = (
        [(2, 1, 4)] if quick else [(2, 1, 4), (1, 2, 4), (2, 1, 1), (2, 1, 2), (2, 1, 8), (4, 1, 4)]
    )
    for contexts, threads, per_batch in layouts:
        embedder = LlamaEmbedder(
            BUILTIN_MODEL,
            contexts=contexts,
            threads_per_context=threads,
            texts_per_batch=per_batch,
            tokenizer_path=BUILTIN_TOKENIZER,
        )
        embedder.embed(texts[:8])
        seconds = timed(lambda embedder=embedder: embedder.embed(texts))
        hub_tokens = sum(len(embedder.tokens(t)) for t in texts)
        embedder.close()
        rate = len(texts) / seconds
        label = f"hub: {contexts} ctx x {threads} thr, {per_batch}/batch"
        if (contexts, threads, per_batch) == (2, 1, 4):
            label += " (default)"
        rows.append(
            {
                "embedder": label,
                "texts_per_s": round(rate, 1),
                "tokens_per_s": round(hub_tokens / seconds),
                "vs_plain": round(rate / baseline, 2),
            }
        )
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            q8 = convert(source_dir(), Path(tmp) / "q8.gguf", "q8_0")
            embedder = LlamaEmbedder(q8, tokenizer_path=BUILTIN_TOKENIZER)
            embedder.embed(texts[:8])
            seconds = timed(lambda: embedder.embed(texts))
            embedder.close()
            rows.append(
                {
                    "embedder": "hub default, q8_0 weights",
                    "texts_per_s": round(len(texts) / seconds, 1),
                    "tokens_per_s": None,
                    "vs_plain": round(len(texts) / seconds / baseline, 2),
                }
            )
    return rows


def start_rows(runs: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_llama(Path(tmp) / "tiny.gguf")
        times = []
        for _ in range(runs):
            port = free_port()
            began = time.perf_counter()
            process = subprocess.Popen(
                [
                    *self_command(),
                    "model-server",
                    "--model",
                    str(model),
                    "--port",
                    str(port),
                    "--n-ctx",
                    "256",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while True:
                try:
                    requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.02)
            times.append(time.perf_counter() - began)
            process.terminate()
            process.wait(10)
    return [
        {
            "measure": "model-server start to ready (tiny GGUF)",
            "median_s": round(statistics.median(times), 2),
            "min_s": round(min(times), 2),
            "max_s": round(max(times), 2),
            "runs": runs,
        }
    ]


def download_rows(size_mb: int) -> list[dict]:
    data = os.urandom(size_mb * 1024 * 1024)
    server = FileServer()
    url = server.serve("/big.bin", data)
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def raw() -> None:
                with requests.get(url, stream=True, timeout=30) as response:
                    for _ in response.iter_content(1024 * 1024):
                        pass

            raw()  # warm
            raw_s = timed(raw)
            hub_s = timed(
                lambda: Download(url, Path(tmp) / "big.bin", options=DownloadOptions()).run()
            )
    finally:
        server.close()
    mb = len(data) / 1e6
    return [
        {
            "download": f"raw streamed GET, {size_mb} MiB",
            "MB_per_s": round(mb / raw_s),
            "vs_raw": 1.0,
        },
        {
            "download": "hub downloader (write .part, fsync, SHA-256, rename)",
            "MB_per_s": round(mb / hub_s),
            "vs_raw": round(raw_s / hub_s, 2),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="fewer layouts and runs")
    args = parser.parse_args()
    results = {
        "embedder": embedder_rows(corpus(args.texts), args.quick),
        "start": start_rows(3 if args.quick else 5),
        "download": download_rows(64 if args.quick else 256),
    }
    print_table(
        results["embedder"], f"Embedding {args.texts} texts of 50 words (cpus: {os.cpu_count()})"
    )
    print_table(results["start"], "Model server")
    print_table(results["download"], "Downloads from a loopback server")
    out = HERE / "results" / "models.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, **results}, indent=2))
    print(f"\nwritten: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

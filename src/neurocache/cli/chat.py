"""`neurocache ask QUESTION`: the answer streamed to the terminal, then its sources.

Through the running hub of this data dir when there is one; else in this process, starting
an installed chat model for the question (and stopping it after)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import click

from neurocache.cli.models import running_hub
from neurocache.errors import NeurocacheError
from neurocache.hub import Hub
from neurocache.records import plain

START_TIMEOUT_S = 120


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.command()
    @click.argument("question")
    @click.option(
        "--collection",
        "collections",
        multiple=True,
        help="Draw from this collection (repeatable); default: all memory.",
    )
    @click.option("--no-memory", is_flag=True, help="Ask the model alone, without retrieval.")
    @click.option("--max-tokens", type=int, default=512, show_default=True)
    @settings_options
    def ask(
        question: str, collections: tuple[str, ...], no_memory: bool, max_tokens: int, **kwargs: Any
    ) -> None:
        """Ask a question of your memory; the answer streams, then its sources."""
        settings, _ = settings_from(kwargs)
        request = {
            "model": "neurocache",
            "stream": True,
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": question}],
            "neurocache": {"rag": not no_memory, "collections": list(collections) or None},
        }
        running = running_hub(settings)
        try:
            if running is None:
                _print_answer(_in_process(settings, request))
            else:
                with running:
                    _print_answer(running.stream("/v1/chat/completions", request))
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc


def _print_answer(chunks: Iterator[dict[str, Any]]) -> None:
    sources: list[dict[str, Any]] = []
    for chunk in chunks:
        if "error" in chunk:
            raise click.ClickException(chunk["error"]["message"])
        for choice in chunk.get("choices") or []:
            click.echo((choice.get("delta") or {}).get("content") or "", nl=False)
        sources = (chunk.get("neurocache") or {}).get("sources", sources)
    click.echo()
    if sources:
        click.echo("\nSources:")
    for source in sources:
        where = source.get("url") or source.get("path") or ""
        page = f", page {source['page']}" if source.get("page") else ""
        mark = "*" if source.get("cited") else " "
        click.echo(
            f"{mark}[{source['number']}] {source.get('title') or 'note'} {where}{page}".rstrip()
        )


def _in_process(settings: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    hub = Hub(settings)
    started = None
    try:
        if hub.models.running("chat") is None:
            started = _start_an_installed_model(hub)
        prepared = hub.completions.prepare(request, None)
        answer = ""
        for chunk in hub.completions.stream(prepared):
            for choice in chunk.get("choices") or []:
                answer += (choice.get("delta") or {}).get("content") or ""
            yield chunk
        yield {"choices": [], "neurocache": {"sources": plain(prepared.sources_view(answer))}}
    finally:
        if started is not None:
            hub.models.stop(started)
        hub.close()


def _start_an_installed_model(hub: Hub) -> str:
    installed = [m for m in hub.models.list() if m.role == "chat" and m.state == "installed"]
    if not installed:
        raise NeurocacheError.with_status(
            503,
            "unavailable",
            "no chat model is installed: `neurocache models list` shows "
            "the catalog, `neurocache models pull ID` downloads one",
        )
    chosen = next((m for m in installed if m.recommended), installed[0]).id
    click.echo(f"(starting {chosen} for this question…)", err=True)
    hub.models.start(chosen)
    deadline = time.monotonic() + START_TIMEOUT_S
    while hub.models.get(chosen).state != "running":
        if time.monotonic() > deadline or hub.models.get(chosen).state == "failed":
            raise NeurocacheError.with_status(
                503,
                "unavailable",
                f"{chosen} did not start; its log is at GET /api/v1/models/{chosen}/logs",
            )
        time.sleep(0.1)
    return chosen

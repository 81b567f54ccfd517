"""`neurocache export KIND [ID] [-o FILE]` and `neurocache import FILE`: bundles to carry a
collection, an agent, a conversation, a channel or every chat from one hub to another.

Export opens the store as the other commands do and only reads it (SQLite's WAL lets it read
beside a serving hub; the index it loads is the store's cache, checked at every start). Import
goes through the running
hub of this data dir when there is one, so that its indexes take the new memories in; else it
writes the store in this process and embeds what it imported before it ends."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from neurocache.cli.models import CLI_ACTOR, running_hub
from neurocache.errors import NeurocacheError
from neurocache.hub import Hub
from neurocache.knowledge.histories import BATCH, TurnIn, history_format, read_history
from neurocache.operations.bundle_format import KINDS
from neurocache.operations.bundles import for_hub
from neurocache.operations.records import ImportedBundle

EMBED_TIMEOUT_S = 3600


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.command("export")
    @click.argument("kind", type=click.Choice(KINDS))
    @click.argument("item_id", metavar="[ID]", required=False)
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write here (default: standard output).",
    )
    @click.option(
        "--vectors",
        is_flag=True,
        help="collection: carry the chunks' vectors (by this hub's embedder).",
    )
    @settings_options
    def export(
        kind: str, item_id: str | None, output: Path | None, vectors: bool, **kwargs: Any
    ) -> None:
        """Export a collection, agent, conversation or channel by ID (a collection also
        by name) as a JSON bundle, or `chats` (every conversation and channel) as JSONL."""
        if kind != "chats" and not item_id:
            raise click.UsageError(f"`export {kind}` needs the {kind}'s ID")
        settings, _ = settings_from(kwargs)
        hub = Hub(settings)
        try:
            _write(_bundle_lines(hub, kind, item_id, vectors), output)
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            hub.close()
        if output is not None:
            click.echo(f"Exported {kind} to {output}.", err=True)

    @main.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--kind", type=click.Choice(KINDS), help="Refuse a bundle of another kind.")
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print the whole answer as JSON (with the map of old ids to new ones).",
    )
    @settings_options
    def import_(file: Path, kind: str | None, as_json: bool, **kwargs: Any) -> None:
        """Import a bundle (.json, or .jsonl for chats): new ids, relations kept; importing
        one twice makes a second copy. Or a chat history from elsewhere (ChatGPT's
        conversations.json, JSONL of turns), with a progress bar: importing it again makes
        nothing new."""
        settings, _ = settings_from(kwargs)
        raw = file.read_bytes()
        fmt = history_format(raw) if kind is None else None
        if fmt is not None:
            try:
                _import_history(settings, read_history(raw, fmt), fmt)
            except NeurocacheError as exc:
                raise click.ClickException(exc.message) from exc
            return
        ndjson = file.suffix.lower() in (".jsonl", ".ndjson")
        running = running_hub(settings)
        try:
            answer = (
                ImportedBundle.model_validate(running.import_bundle(raw, ndjson=ndjson, kind=kind))
                if running
                else _in_process(settings, raw, ndjson, kind)
            )
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        _report(answer, as_json)


def _import_history(settings: Any, turns: list[TurnIn], fmt: str) -> None:
    """Through the running hub a batch at a time (each a request), else in this process."""
    running = running_hub(settings)
    totals = {"created": 0, "unchanged": 0}
    with click.progressbar(
        length=len(turns), label=f"Importing {fmt}", show_pos=True, show_eta=True
    ) as bar:
        if running is not None:
            for start in range(0, len(turns), BATCH):
                batch = turns[start : start + BATCH]
                answer = running.import_bundle(_as_jsonl(batch), ndjson=True)
                for name in totals:
                    totals[name] += answer[name]
                bar.update(len(batch))
        else:
            hub = Hub(settings)
            try:
                done = hub.histories.run(
                    turns, CLI_ACTOR, progress=lambda n, _total: bar.update(n - bar.pos)
                )
            finally:
                hub.close()
            totals = {"created": done.created, "unchanged": done.unchanged}
    threads = len({t.thread for t in turns})
    click.echo(
        f"Imported {len(turns)} turns of {threads} threads: {totals['created']} new, "
        f"{totals['unchanged']} already here."
    )


def _as_jsonl(turns: list[TurnIn]) -> bytes:
    return "".join(
        json.dumps(
            {
                "thread": t.thread,
                "speaker": t.speaker,
                "at": t.at,
                "content": t.content,
                "title": t.title,
            },
            ensure_ascii=False,
        )
        + "\n"
        for t in turns
    ).encode()


def _bundle_lines(hub: Hub, kind: str, item_id: str | None, vectors: bool) -> Iterable[str]:
    bundles = for_hub(hub)
    if kind == "chats":
        return bundles.export_chats()
    bundle = bundles.export(kind, item_id or "", vectors=vectors)
    return [json.dumps(bundle, ensure_ascii=False, indent=1) + "\n"]


def _write(lines: Iterable[str], output: Path | None) -> None:
    if output is None:
        for line in lines:
            sys.stdout.write(line)
        return
    temp = output.with_name(output.name + ".part")  # a half-written bundle never looks whole
    with open(temp, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    temp.replace(output)


def _in_process(settings: Any, raw: bytes, ndjson: bool, kind: str | None) -> ImportedBundle:
    hub = Hub(settings)
    try:
        answer = for_hub(hub).import_bundle(raw, CLI_ACTOR, ndjson=ndjson, expected_kind=kind)
        hub.index_later.wait_idle(EMBED_TIMEOUT_S)  # what was imported is searchable
        return answer
    finally:
        hub.close()


def _report(answer: ImportedBundle, as_json: bool) -> None:
    for warning in answer.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(answer.plain(), indent=2, ensure_ascii=False))
        return
    for created in answer.created:
        click.echo(f"Imported {created.type} {created.name!r} as {created.id}.")
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(answer.counts.items()))
    click.echo(f"{len(answer.id_map)} ids mapped ({counts}).")

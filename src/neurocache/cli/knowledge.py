"""`neurocache ingest PATH...` and `neurocache search QUERY`: through the running hub of
this data dir when there is one (so it does the work), else in this process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import click

from neurocache.cli.models import CLI_ACTOR, running_hub
from neurocache.client import HubClient
from neurocache.client.hub import SearchMode
from neurocache.errors import NeurocacheError
from neurocache.hub import Hub
from neurocache.knowledge.loaders import READABLE
from neurocache.search.service import Filters

SKIPPED_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv"}


def files_under(paths: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    """Readable files in PATHs (folders walked, hidden and tool folders skipped), as
    absolute paths (a file is the same file from any working directory), and the files
    passed over (of a kind the hub does not read)."""
    found: list[Path] = []
    skipped: list[Path] = []
    for given in map(Path, paths):
        candidates = [given] if given.is_file() else _walk(given)
        for file in candidates:
            (found if file.suffix.lower() in READABLE else skipped).append(file.resolve())
    return found, skipped


def _walk(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        raise click.BadParameter(f"{folder} is neither a file nor a folder")
    for path in sorted(folder.rglob("*")):
        parts = set(path.relative_to(folder).parts[:-1])
        if path.is_file() and not parts & SKIPPED_DIRS and not path.name.startswith("."):
            yield path


class Target:
    """Where the work happens: the running hub over HTTP, or a hub in this process."""

    def __init__(self, hub: Hub | None, running: HubClient | None) -> None:
        self.hub, self.running = hub, running

    def check_collection(self, collection: str | None) -> None:
        """An unknown collection stops the command before any file is read."""
        if collection is None:
            return
        if self.running is not None:
            known = {c[key] for c in self.running.collections() for key in ("id", "name")}
            if collection not in known:
                raise NeurocacheError(
                    f"no collection {collection!r}: create it first (or leave out --collection)"
                )
            return
        assert self.hub is not None
        self.hub.knowledge.collection_id(collection)

    def add_file(self, path: Path, collection: str | None) -> dict[str, Any]:
        """The upload's answer: its `document`, `job` and `outcome` (created, unchanged or
        replaced: the same file, taken in again, makes nothing new)."""
        if self.running is not None:
            return self.running.add_file(path, collection=collection)
        assert self.hub is not None
        return self.hub.knowledge.add_file(
            str(path), path.read_bytes(), CLI_ACTOR, collection, same_file=True
        ).plain()

    def document(self, document_id: str) -> dict[str, Any]:
        if self.running is not None:
            return self.running.document(document_id)
        assert self.hub is not None
        return self.hub.knowledge.get_document(document_id).plain()

    def job(self, job_id: str) -> dict[str, Any]:
        if self.running is not None:
            return self.running.job(job_id)
        assert self.hub is not None
        return self.hub.jobs.get(job_id).plain()

    def search(self, query: str, k: int, mode: str, collections: list[str]) -> list[dict[str, Any]]:
        """The results as the API answers them (what `--json` prints, either way)."""
        if self.running is not None:
            return self.running.search(
                query, k=k, mode=cast(SearchMode, mode), collections=collections or None
            )
        assert self.hub is not None
        ids = [self.hub.knowledge.collection_id(c) for c in collections] or None
        found = self.hub.search.search(query, k=k, mode=mode, filters=Filters(collections=ids))
        return [result.plain() for result in found]


def _target(settings: Any) -> Target:
    running = running_hub(settings)
    if running is not None:
        return Target(None, running)
    hub = Hub(settings)
    hub.start_background_work()
    return Target(hub, None)


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.command()
    @click.argument("paths", nargs=-1, required=True)
    @click.option("--collection", help="A collection's name or id.")
    @settings_options
    def ingest(paths: tuple[str, ...], collection: str | None, **kwargs: Any) -> None:
        """Take in files and folders, with a progress bar and a summary."""
        settings, _ = settings_from(kwargs)
        files, skipped = files_under(paths)
        target = _target(settings)
        try:
            target.check_collection(collection)
            failed = _ingest(target, files, skipped, collection)
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            if target.hub is not None:
                target.hub.close()
        if failed:
            raise SystemExit(1)

    @main.command()
    @click.argument("query")
    @click.option("-k", "k", type=int, default=10, show_default=True)
    @click.option(
        "--mode",
        type=click.Choice(["hybrid", "vector", "fulltext"]),
        default="hybrid",
        show_default=True,
    )
    @click.option("--collection", "collections", multiple=True)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @settings_options
    def search(
        query: str, k: int, mode: str, collections: tuple[str, ...], as_json: bool, **kwargs: Any
    ) -> None:
        """Search everything the hub keeps; prints ranked sources."""
        settings, _ = settings_from(kwargs)
        target = _target(settings)
        try:
            results = target.search(query, k, mode, list(collections))
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        finally:
            if target.hub is not None:
                target.hub.close()
        if as_json:
            click.echo(json.dumps(results, indent=2))
            return
        for rank, hit in enumerate(results, start=1):
            _print_hit(rank, hit)
        if not results:
            click.echo("Nothing found.")


def _ingest(target: Target, files: list[Path], skipped: list[Path], collection: str | None) -> int:
    """Take the files in, with progress; prints a summary; returns how many failed."""
    started = time.monotonic()
    accepted: dict[str, tuple[Path, str]] = {}  # job id → (file, document id)
    outcomes: dict[str, int] = {"created": 0, "replaced": 0, "unchanged": 0}
    failures: list[str] = []
    with click.progressbar(files, label="Reading", show_pos=True) as bar:
        for path in bar:
            try:
                answer = target.add_file(path, collection)
            except NeurocacheError as exc:
                failures.append(f"{path}: {exc.message}")
                continue
            outcome = answer.get("outcome", "created")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome != "unchanged":
                accepted[answer["job"]["id"]] = (path, answer["document"]["id"])
    progress = _IndexingProgress(started)
    _follow(target, accepted, progress, failures)
    _summary(len(files), outcomes, progress, skipped, failures, time.monotonic() - started)
    return len(failures)


def _follow(
    target: Target,
    accepted: dict[str, tuple[Path, str]],
    progress: _IndexingProgress,
    failures: list[str],
) -> None:
    with click.progressbar(
        length=len(accepted),
        label="Indexing",
        show_pos=True,
        show_eta=True,
        item_show_func=progress.line,
    ) as bar:
        pending = list(accepted)
        while pending:
            for job_id, job in _finished(target, pending):
                path, document_id = accepted[job_id]
                if job["status"] == "done":
                    progress.done(target.document(document_id).get("chunk_count") or 0)
                else:
                    failures.append(f"{path}: {job.get('error') or job['status']}")
                pending.remove(job_id)
                bar.update(1, job_id)
            time.sleep(0.2)


def _summary(
    total: int,
    outcomes: dict[str, int],
    progress: _IndexingProgress,
    skipped: list[Path],
    failures: list[str],
    seconds: float,
) -> None:
    new = outcomes["created"] + outcomes["replaced"]
    click.echo(
        f"Ingested {progress.files} of {new} new or changed files ({progress.chunks} "
        f"chunks) in {seconds:.1f} s ({progress.chunks / max(seconds, 1e-9):.1f} "
        f"chunks/s): {outcomes['created']} new, {outcomes['replaced']} changed "
        f"(replaced), {outcomes['unchanged']} unchanged, {len(skipped)} skipped, "
        f"{len(failures)} failed (of {total} files read)."
    )
    for path in skipped:
        click.echo(f"  skipped (not a kind the hub reads): {path}")
    for failure in failures:
        click.echo(f"  failed: {failure}", err=True)


def _finished(target: Target, pending: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """The jobs at the head of the queue that have ended. Jobs run oldest first, so asking
    stops at the first one still running: a few requests a round, however many files."""
    ended = []
    for job_id in pending:
        job = target.job(job_id)
        if job["status"] not in ("done", "failed", "cancelled"):
            break
        ended.append((job_id, job))
    return ended


class _IndexingProgress:
    def __init__(self, started: float) -> None:
        self.started, self.files, self.chunks = started, 0, 0

    def done(self, chunks: int) -> None:
        self.files += 1
        self.chunks += chunks

    def line(self, _item: object) -> str:
        rate = self.chunks / max(time.monotonic() - self.started, 1e-9)
        return f"{self.chunks} chunks, {rate:.1f} chunks/s"


def _print_hit(rank: int, hit: dict[str, Any]) -> None:
    document = hit.get("document") or {}
    where = document.get("url") or document.get("path") or ""
    page = f", page {document['page']}" if document.get("page") else ""
    click.echo(
        f"{rank:>2}. {document.get('title', hit['kind'])} [{where}{page}] score {hit['score']:.4f}"
    )
    snippet = " ".join(hit["text"].split())
    click.echo(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")

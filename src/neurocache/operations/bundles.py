"""Export and import bundles: a collection, an agent, a conversation, a channel, or every
chat, carried from one hub to another (the format: bundle_format.py).

An import is all or nothing: the bundle is checked whole before anything is written, then
written in one transaction with its audit entries (and the ingestion jobs of documents that
come unsplit). Embedding comes after the commit, through the hub's usual paths (the
embed-later queue, the ingestion job), so a bundle carries no
vectors by default: they belong to the embedder that made them, the importing hub may use
another, and they would make a bundle several times larger. A memory the hub stops before
embedding is embedded at its next start, like any other."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.exc import IntegrityError

from neurocache.errors import Conflict, InvalidInput, NeurocacheError
from neurocache.events import Publish
from neurocache.operations.bundle_export import Exporter, Hidden
from neurocache.operations.bundle_format import parse, validate
from neurocache.operations.bundle_import import Imported, Writer
from neurocache.operations.records import ImportedBundle
from neurocache.store.audit import Actor
from neurocache.store.database import Database

log = logging.getLogger("neurocache.bundles")
EXPORTABLE = ("collection", "agent", "conversation", "channel")


class Bundles:
    def __init__(
        self,
        db: Database,
        *,
        hidden: Hidden,
        embedder_name: str,
        publish: Publish,
        ingest_job: Callable[[str], Any],
        dispatch: Callable[[str], None],
        model_ok: Callable[[str], bool],
        embedder_dimension: Callable[[], int] = lambda: 0,
    ) -> None:
        self.db = db
        self.exporter = Exporter(db, hidden, embedder_name)
        self.embedder_name = embedder_name
        # publish: memory.written {memory_id, text} (embedded off the request path) and
        # vectors.stored {memory_ids} (imported vectors, into the loaded index)
        self.publish = publish
        self.ingest_job = ingest_job  # document id -> a job row splitting and embedding it
        self.dispatch = dispatch  # job id: hand the committed job to the workers
        self.model_ok = model_ok
        self.embedder_dimension = embedder_dimension  # vectors of another size are not kept

    # ---- export
    def export(
        self, kind: str, item_id: str, person: str = "owner", vectors: bool = False
    ) -> dict[str, Any]:
        """One thing as a JSON bundle; `person` exports only what they may read. A dict, not a
        record: the bundle is a file for another hub, whose format bundle_format.py reads."""
        if kind == "collection":
            return self.exporter.collection(item_id, vectors)
        if kind == "agent":
            return self.exporter.agent(item_id, person)
        if kind == "conversation":
            return self.exporter.conversation(item_id, person)
        if kind == "channel":
            return self.exporter.channel(item_id, person)
        raise InvalidInput(
            f"one of {', '.join(EXPORTABLE)} (or every chat) is exported", details={"field": "kind"}
        )

    def export_chats(self, person: str = "owner") -> Iterator[str]:
        """Every conversation and channel `person` may read, as JSON lines (a header
        first), made as they are read."""
        for item in self.exporter.chats(person):
            yield json.dumps(item, ensure_ascii=False) + "\n"

    # ---- import
    def import_bundle(
        self,
        raw: bytes | str,
        actor: Actor,
        *,
        person: str = "owner",
        ndjson: bool = False,
        expected_kind: str | None = None,
    ) -> ImportedBundle:
        """The answer names what was made and maps every id of the bundle to its new id."""
        bundle = validate(parse(raw, ndjson), expected_kind)
        try:
            with self.db.session() as session:
                writer = Writer(
                    session,
                    actor,
                    person,
                    bundle.kind,
                    self.embedder_name,
                    self.model_ok,
                    self.embedder_dimension(),
                    self.ingest_job,
                )
                imported = writer.write(bundle)
                session.flush()
                self.db.write_embeddings(session, dict(imported.vectors))  # pgvector's copy
        except IntegrityError as exc:  # a name taken at the same moment
            raise Conflict(
                "the import clashed with a change made at the same time; "
                "nothing was imported: try again"
            ) from exc
        try:
            self._index(imported)
        except Exception:  # what was imported is stored; the index is rebuilt at start
            log.exception("indexing an import failed; the next start catches up")
            imported.warnings.append(
                "the import is stored, but indexing it failed: "
                "search finds it after the hub restarts"
            )
        return imported.view()

    def _index(self, imported: Imported) -> None:
        """After the commit: what the store holds is safe; the indexes catch up."""
        for job_id in imported.ingest:
            self.dispatch(job_id)
        if imported.vectors:
            ids = [memory_id for memory_id, _ in imported.vectors]
            self.publish("vectors.stored", {"memory_ids": ids}, None)
        for memory_id, text in imported.embed:
            self.publish("memory.written", {"memory_id": memory_id, "text": text}, None)


def for_hub(hub: Any) -> Bundles:
    """Bundles wired to one hub's services (the store never imports the hub itself)."""

    def model_ok(model_id: str) -> bool:
        try:
            role: str = hub.models.get(model_id).role
            return role == "chat"
        except NeurocacheError:
            return False

    return Bundles(
        hub.db,
        hidden=hub.visibility.hidden,
        embedder_dimension=lambda: hub.embedder.dimension,
        embedder_name=hub.search.embedder_name,
        publish=lambda *event: hub.publish(*event),
        ingest_job=lambda document_id: hub.jobs.row("ingest", {"document_id": document_id}),
        dispatch=hub.jobs.dispatch,
        model_ok=model_ok,
    )

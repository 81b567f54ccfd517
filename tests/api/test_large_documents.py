"""A large document is read, split and embedded a window at a time: its chunks still
carry exact offsets into its text, and characters cut between two reads are mended."""

from __future__ import annotations

from sqlalchemy import select

from neurocache.knowledge.reading import WINDOW_BYTES, StoredText
from neurocache.store.audit import Actor
from neurocache.store.tables import Memory

# Several windows' worth, with characters of 2, 3 and 4 bytes that will straddle reads.
PARAGRAPH = "Été à Montréal: ☕ and 🚲 along the Lachine canal, number {n}.\n\n"


def long_text(paragraphs: int) -> str:
    return "".join(PARAGRAPH.format(n=n) for n in range(paragraphs))


def test_the_stored_text_comes_back_whole_a_window_at_a_time(hub):
    body = long_text(4000)  # about 270 KB: several windows
    accepted = hub.knowledge.add_text(title="Canal", body=body, fmt="text", actor=Actor("t"))
    stored = StoredText(hub.db, accepted.document.id)
    assert stored.bytes == len(body.encode()) > 2 * WINDOW_BYTES
    windows = list(stored.windows())
    assert len(windows) > 2 and "".join(w for _, w, _ in windows) == body
    assert [start for start, _, _ in windows] == [
        sum(len(w) for _, w, _ in windows[:i]) for i in range(len(windows))
    ]
    assert windows[-1][2] == 1.0


def test_chunks_of_a_streamed_document_point_into_its_text(hub):
    body = long_text(3000)
    accepted = hub.knowledge.add_text(title="Canal", body=body, fmt="text", actor=Actor("t"))
    assert hub.jobs.wait_idle(300)
    with hub.db.session() as session:
        chunks = list(session.scalars(select(Memory).where(Memory.kind == "chunk")))
    assert chunks
    for chunk in chunks:
        assert body[chunk.meta["start"] : chunk.meta["end"]] == chunk.content
    assert hub.jobs.get(accepted.job.id).status == "done"

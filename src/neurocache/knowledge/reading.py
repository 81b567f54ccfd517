"""A stored document's text, a window at a time, without holding all of it.

On SQLite the text is read through SQLite's incremental blob I/O, a window of bytes at a
time (an incremental UTF-8 decoder mends characters cut between two reads), so a 50 MB
document costs a window's memory, not 50 MB, for the hour it takes to index. Elsewhere
(PostgreSQL), and for documents with pages (each chunk must cite one page), the text is
read whole and cut in memory.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import Any

from sqlalchemy import text

from neurocache.knowledge.splitting import BREAKS, WINDOW_CHARS, windows
from neurocache.store import Database

WINDOW_BYTES = WINDOW_CHARS * 2  # a window's worth of text in most scripts, and more


def document_windows(body: str, pages: list | None) -> Iterator[tuple[int, str]]:
    """(start, text) of the spans a document in memory is split by: windows, never across
    a page."""
    spans = [(0, len(body))] if not pages else [(start, end) for _n, start, end in pages]
    for span_start, span_end in spans:
        for start, end in windows(body, span_start, span_end):
            yield start, body[start:end]


class StoredText:
    """A memory's text in the store: its length, and its windows."""

    def __init__(self, db: Database, memory_id: str) -> None:
        self.db, self.memory_id = db, memory_id
        with db.session() as session:
            self.rowid, self.bytes = session.execute(
                text(f"SELECT rowid, {db.sql.byte_length('content')} FROM memories WHERE id = :id"),
                {"id": memory_id},
            ).one()

    @property
    def streamable(self) -> bool:
        return self.db.engine.dialect.name == "sqlite"

    def whole(self) -> str:
        with self.db.session() as session:
            content: str = session.execute(
                text("SELECT content FROM memories WHERE id = :id"), {"id": self.memory_id}
            ).scalar_one()
            return content

    def windows(self) -> Iterator[tuple[int, str, float]]:
        """(start in characters, text, share of the bytes read so far)."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        offset, start, carry = 0, 0, ""
        while offset < self.bytes:
            raw = self._read(offset, WINDOW_BYTES)
            if not raw:
                break  # shorter than it said: changed since (its job stops or reruns)
            offset += len(raw)
            buffer = carry + decoder.decode(raw, final=offset >= self.bytes)
            cut = len(buffer) if offset >= self.bytes else _break(buffer)
            window, carry = buffer[:cut], buffer[cut:]
            yield start, window, offset / max(self.bytes, 1)
            start += len(window)
        if carry:
            yield start, carry, 1.0

    def _read(self, offset: int, size: int) -> bytes:
        with self.db.engine.connect() as connection:  # a short read each, no long lock
            raw: Any = connection.connection.driver_connection
            with raw.blobopen("memories", "content", self.rowid, readonly=True) as blob:
                blob.seek(offset)
                read: bytes = blob.read(size)
                return read


def _break(buffer: str) -> int:
    """Where to end a window: the last paragraph break in its second half, else a line,
    a sentence, a word; else all of it."""
    half = len(buffer) // 2
    for mark in BREAKS:
        found = buffer.rfind(mark, half)
        if found != -1:
            return found + len(mark)
    return len(buffer)

"""The one retrieval entry point of everything that answers (conversations, agents in
channels, `/v1/chat/completions` with `neurocache.rag`): the passages of the knowledge
base most relevant to a question, as typed records a prompt numbers and a reply cites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neurocache.records import Record
from neurocache.search.records import SearchResult


@dataclass(frozen=True)
class Source:
    """A retrieved passage, as shown to the model and kept with the reply."""

    memory_id: str
    text: str
    score: float
    title: str | None = None
    url: str | None = None
    path: str | None = None
    page: int | None = None
    start: int | None = None
    end: int | None = None
    document_id: str | None = None

    def heading(self, number: int) -> str:
        where = self.url or self.path
        parts = [p for p in (self.title, where, f"page {self.page}" if self.page else None) if p]
        return f"[{number}] {' — '.join(parts) or 'note'}"

    def view(self, number: int, cited: bool) -> Citation:
        return Citation(
            number=number,
            memory_id=self.memory_id,
            document_id=self.document_id,
            title=self.title,
            url=self.url,
            path=self.path,
            page=self.page,
            start=self.start,
            end=self.end,
            quote=self.text,
            cited=cited,
        )


class Citation(Record):
    """A source as a reply keeps and shows it: numbered as in its prompt, cited or not."""

    number: int
    memory_id: str
    quote: str
    cited: bool
    document_id: str | None = None
    title: str | None = None
    url: str | None = None
    path: str | None = None
    page: int | None = None
    start: int | None = None
    end: int | None = None

    @classmethod
    def stored(cls, kept: dict[str, Any]) -> Citation:
        """A citation as a reply's row keeps it (a hub of another version may have kept
        fields this one does not know: they are left out)."""
        return cls.model_validate({k: v for k, v in kept.items() if k in cls.model_fields})


def source_of(result: SearchResult) -> Source:
    """A search result (a chunk of a document) as a passage to cite."""
    document = result.document
    return Source(
        memory_id=result.memory_id,
        text=result.text,
        score=result.score,
        title=document.title if document else None,
        url=document.url if document else None,
        path=document.path if document else None,
        page=document.page if document else None,
        start=result.start,
        end=result.end,
        document_id=document.id if document else None,
    )

"""Typed records: what services answer.

A service returns a record (or a list or page of them), never a bare dict: its fields are
checked by mypy where it is used, and, being a pydantic model, the record is also the model
of the API's JSON for it (the web layer sends `record.plain()`; the OpenAPI document and
the tests' response check read the same class). Records are immutable (a changed thing is
a new record, `model_copy(update=...)`) and refuse fields they do not declare, so a field a
service adds without declaring it fails loudly instead of reaching clients unchecked."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    # defer_build: a record's validator is built when it is first used, not when its module
    # is imported (built at import, the records took about 0.12 s of every start)
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def plain(self) -> dict[str, Any]:
        """The record as plain JSON values (for the API, audit entries and events)."""
        return self.model_dump(mode="json")


class Named(Record):
    """Something pointed at by id, with the name a person knows it by."""

    id: str
    name: str


def plain(value: Any) -> Any:
    """`value` with every record inside it (in dicts, lists, tuples) made plain JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value

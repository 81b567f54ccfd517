"""What the access services answer: API keys and users."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neurocache.records import Record

Scope = Literal["read", "write", "chat", "admin"]


class KeyRecord(Record):
    id: str
    name: str
    prefix: str = Field(description="First characters of the secret, to tell keys apart.")
    scopes: list[Scope]
    owner: str = Field(description="Whose key it is: `owner` or `user:<id>`.")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    use_count: int


class UserRecord(Record):
    id: str
    name: str
    display_name: str
    person: str = Field(description="`user:<id>`: how messages and members name them.")
    created_at: str
    disabled_at: str | None

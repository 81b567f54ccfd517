"""The owner's login token: one per install, kept in the data dir, readable only by its user."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "owner_token"


class OwnerToken:
    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def load_or_create(cls, data_dir: Path) -> OwnerToken:
        path = data_dir / TOKEN_FILE
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return cls(value)
        return cls(cls._write_new(path))

    @staticmethod
    def _write_new(path: Path) -> str:
        value = "nco_" + secrets.token_urlsafe(32)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(".tmp")
        # Created 0600 from the start, then renamed: no moment when others can read it.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value)
        os.replace(temp, path)
        return value

    @property
    def value(self) -> str:
        return self._value

    def matches(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), self._value.encode())

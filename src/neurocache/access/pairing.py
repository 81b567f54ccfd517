"""Pairing: a short code, shown by the hub to its owner, that a browser extension trades
once for an API key of its own — so nobody copies a 40-character secret between windows.

Codes live in memory (a restart voids them), last five minutes, work once, and carry ~39
bits; after a few wrong tries every open code is voided, so guessing is hopeless."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neurocache.access.keys import ApiKeys
from neurocache.access.records import KeyRecord
from neurocache.errors import NotFound
from neurocache.store.audit import Actor

ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read aloud without doubt
CODE_LENGTH = 8
TTL_S = 300.0
MAX_FAILURES = 5
SCOPES = ["read", "write", "chat"]  # capture (write), ask (chat), collections and session (read)


@dataclass(frozen=True)
class PendingCode:
    actor: Actor
    expires_at: float


def normalized(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


class Pairings:
    def __init__(self, keys: ApiKeys, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = keys
        self._clock = clock
        self._pending: dict[str, PendingCode] = {}
        self._failures: list[float] = []  # when wrong codes came, within the last TTL_S
        self._lock = threading.Lock()

    def create(self, actor: Actor) -> dict[str, Any]:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        with self._lock:
            self._pending[code] = PendingCode(actor, self._clock() + TTL_S)
        return {"code": f"{code[:4]}-{code[4:]}", "expires_in_s": TTL_S, "scopes": SCOPES}

    def claim(self, code: str, name: str) -> tuple[KeyRecord, str]:
        """The new key and its secret, once per code; a wrong or old code is 404."""
        with self._lock:
            pending = self._pending.pop(normalized(code), None)
            if pending is None or pending.expires_at < self._clock():
                self._count_failure()
                raise NotFound(
                    "that pairing code is not valid: it may have expired or been "
                    "used; ask the hub for a new one"
                )
            self._failures.clear()  # a right code: old typos count no more
        return self._keys.create(name, SCOPES, pending.actor)

    def _count_failure(self) -> None:
        now = self._clock()
        self._failures = [at for at in self._failures if now - at < TTL_S] + [now]
        if len(self._failures) >= MAX_FAILURES:  # someone is guessing: void every open code
            self._pending.clear()
            self._failures.clear()

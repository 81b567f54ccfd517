"""API keys: created, listed, revoked, and checked on every request."""

from __future__ import annotations

import builtins
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from neurocache.access.records import KeyRecord, Scope
from neurocache.errors import InvalidInput
from neurocache.events import Publish, publish_nowhere
from neurocache.store import audit
from neurocache.store.audit import Actor
from neurocache.store.database import Database, get_or_not_found
from neurocache.store.paging import newest_first
from neurocache.store.tables import ApiKey, User
from neurocache.store.types import isoformat, utcnow

SCOPES = ("read", "write", "chat", "admin")
KEY_PREFIX = "nc_"
# last_used_at is written at most this often per key, so that a busy key does not turn
# every read into a write transaction.
TOUCH_INTERVAL = timedelta(seconds=5)


@dataclass(frozen=True)
class Principal:
    """Who a request or socket is: the owner (browser session) or an API key."""

    kind: str  # "owner" | "key"
    id: str
    name: str
    scopes: frozenset[str]
    person: str = "owner"  # whose key: "owner" or "user:<id>" (who said what)

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def actor(self, request_id: str | None = None) -> Actor:
        return Actor("owner" if self.kind == "owner" else f"key:{self.id}", request_id)

    @property
    def is_owner(self) -> bool:
        """The hub's owner, in person or through one of the owner's keys."""
        return self.person == "owner"


OWNER = Principal(kind="owner", id="owner", name="owner", scopes=frozenset(SCOPES))


def hash_secret(secret: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 cannot be brute-forced; a slow
    # password hash would only slow down every request.
    return hashlib.sha256(secret.encode()).hexdigest()


def key_view(key: ApiKey) -> KeyRecord:
    return KeyRecord(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scopes=[cast(Scope, s) for s in key.scopes],
        owner=key.owner or "owner",
        created_at=isoformat(key.created_at) or "",
        last_used_at=isoformat(key.last_used_at),
        revoked_at=isoformat(key.revoked_at),
        use_count=key.use_count,
    )


def check_new_key(name: str, scopes: list[str]) -> list[str]:
    if not name.strip() or len(name) > 200:
        raise InvalidInput("a key needs a name of 1 to 200 characters")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInput(
            f"scopes must be a non-empty selection of {', '.join(SCOPES)}",
            details={"unknown": unknown},
        )
    return [scope for scope in SCOPES if scope in scopes]


class ApiKeys:
    def __init__(self, db: Database, publish: Publish = publish_nowhere) -> None:
        self._db = db
        self._uses = KeyUses(db)
        self.publish = publish  # key.revoked {key_id}, after the commit

    def create(
        self, name: str, scopes: builtins.list[str], actor: Actor, owner: str = "owner"
    ) -> tuple[KeyRecord, str]:
        """A new key and its secret; the secret is never stored and cannot be shown again.
        `owner` is whose key it is: the owner's, or a user's (`user:<id>`), who may not
        have `admin` (it would let them make the owner's keys and read everything)."""
        scopes = check_new_key(name, scopes)
        if owner != "owner" and "admin" in scopes:
            raise InvalidInput(
                "a user's key cannot have the admin scope: admin is the owner's",
                details={"field": "scopes"},
            )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            name=name.strip(),
            prefix=secret[:10],
            secret_hash=hash_secret(secret),
            scopes=scopes,
            owner=owner,
            created_at=utcnow(),
            use_count=0,
        )
        with self._db.session() as session:
            session.add(key)
            session.flush()
            view = key_view(key)
            audit.record(session, actor, "key.create", ("api_key", key.id), None, view)
        return view, secret

    def list(
        self, *, limit: int = 50, cursor: str | None = None, include_revoked: bool = True
    ) -> tuple[builtins.list[KeyRecord], str | None]:
        """Newest first."""
        query = select(ApiKey)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._db.session() as session:
            return newest_first(session, query, ApiKey, limit, cursor, key_view)

    def get(self, key_id: str) -> KeyRecord:
        with self._db.session() as session:
            return key_view(get_or_not_found(session, ApiKey, key_id, "API key"))

    def revoke(self, key_id: str, actor: Actor) -> KeyRecord:
        """Revoke a key (idempotent); the row stays for the audit trail."""
        with self._db.session() as session:
            key = get_or_not_found(session, ApiKey, key_id, "API key")
            if key.revoked_at is not None:
                return key_view(key)
            after = _revoke_row(session, key, actor)
        self._revoked([key_id])
        return after

    def revoke_all_of(
        self, person: str, actor: Actor, along: Callable[[Session], Any] | None = None
    ) -> int:
        """Revoke every live key of a person (`user:<id>`) in one transaction, with what
        `along` writes (disabling the person); returns how many."""
        with self._db.session() as session:
            keys = list(
                session.scalars(
                    select(ApiKey).where(ApiKey.owner == person, ApiKey.revoked_at.is_(None))
                )
            )
            for key in keys:
                _revoke_row(session, key, actor)
            if along is not None:
                along(session)
            ids = [key.id for key in keys]
        self._revoked(ids)
        return len(ids)

    def _revoked(self, key_ids: builtins.list[str]) -> None:
        """After the commit: forget their uses, and say so (live sockets close)."""
        for key_id in key_ids:
            self._uses.forget(key_id)
            self.publish("key.revoked", {"key_id": key_id}, None)

    def is_live(self, key_id: str) -> bool:
        """Still usable: exists and not revoked (by any process sharing the store)."""
        with self._db.session() as session:
            row = session.execute(select(ApiKey.revoked_at).where(ApiKey.id == key_id)).first()
        return row is not None and row.revoked_at is None

    def flush(self) -> None:
        """Write the use counts not yet written (on shutdown)."""
        self._uses.flush()

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a live key, or None; counts the use."""
        if not secret.startswith(KEY_PREFIX):
            return None
        with self._db.session() as session:
            key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
            if key is None or key.revoked_at is not None or _owner_disabled(session, key.owner):
                return None
            principal = Principal("key", key.id, key.name, frozenset(key.scopes), key.owner)
        self._uses.record(principal.id)
        return principal


def _revoke_row(session: Session, key: ApiKey, actor: Actor) -> KeyRecord:
    before = key_view(key)
    key.revoked_at = utcnow()
    session.flush()
    after = key_view(key)
    audit.record(session, actor, "key.revoke", ("api_key", key.id), before, after)
    return after


def _owner_disabled(session: Session, owner: str | None) -> bool:
    """A key of a disabled user never signs in, whatever raced with the disabling."""
    if not owner or not owner.startswith("user:"):
        return False
    user = session.get(User, owner.removeprefix("user:"))
    return user is None or user.disabled_at is not None


class KeyUses:
    """Counts uses of keys in memory and writes them (count and last-used time) at most
    once per TOUCH_INTERVAL per key, so a busy key does not make every read a write."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._written_at: dict[str, datetime] = {}
        self._pending: dict[str, tuple[int, datetime]] = {}

    def record(self, key_id: str) -> None:
        now = utcnow()
        with self._lock:
            count, _ = self._pending.get(key_id, (0, now))
            self._pending[key_id] = (count + 1, now)
            last = self._written_at.get(key_id)
            if last is not None and now - last < TOUCH_INTERVAL:
                return
            self._written_at[key_id] = now
            uses, used_at = self._pending.pop(key_id)
        self._write(key_id, uses, used_at)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for key_id, (uses, used_at) in pending.items():
            self._write(key_id, uses, used_at)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._pending.pop(key_id, None)
            self._written_at.pop(key_id, None)

    def _write(self, key_id: str, uses: int, used_at: datetime) -> None:
        with self._db.session() as session:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .values(last_used_at=used_at, use_count=ApiKey.use_count + uses)
            )

"""Rate limits: token buckets, one per key and kind of endpoint plus one for the whole hub.

A bucket holds up to a minute's allowance and refills continuously, so a client may burst
its whole minute at once and then goes at the steady rate. Buckets live in memory (checked
on every request: no store round trip) and are saved to the store every couple of seconds
and on shutdown, so a restart does not hand every key a fresh minute. Decided in
docs/decisions/0008-operations.md (why not Redis or a library here)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from neurocache.errors import NeurocacheError
from neurocache.metering.periodic import Periodic
from neurocache.store.database import Database
from neurocache.store.tables import RateBucket
from neurocache.store.types import utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.limits")


class RateLimited(NeurocacheError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, details: dict) -> None:
        super().__init__(message, details={**details, "retry_after_s": retry_after_s})
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}


@dataclass(frozen=True)
class Allowance:
    """One bucket to draw from: its name and its requests per minute (0: unlimited)."""

    bucket: str
    per_minute: int


@dataclass
class _Bucket:
    tokens: float
    at: datetime

    def refill(self, per_minute: int, now: datetime) -> None:
        elapsed = max(0.0, (now - self.at).total_seconds())
        self.tokens = min(float(per_minute), self.tokens + elapsed * per_minute / 60)
        self.at = now


class RateLimiter:
    def __init__(
        self,
        db: Database,
        save_interval_s: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
        threads: Threads | None = None,
    ) -> None:
        self._db = db
        self.clock = clock  # a test may hold time still
        self._buckets: dict[str, _Bucket] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()
        self._saver = Periodic("rate-limits", save_interval_s, self.save, log, threads)

    def take(self, allowances: list[Allowance]) -> tuple[Allowance, float] | None:
        """Take one request from every bucket, or from none: returns None when allowed,
        else the allowance that is spent and the seconds until it has room again."""
        allowances = [a for a in allowances if a.per_minute > 0]
        for allowance in allowances:
            self._load(allowance)
        now = self.clock()
        with self._lock:
            for allowance in allowances:
                self._buckets[allowance.bucket].refill(allowance.per_minute, now)
            for allowance in allowances:
                tokens = self._buckets[allowance.bucket].tokens
                if tokens < 1:
                    return allowance, (1 - tokens) * 60 / allowance.per_minute
            for allowance in allowances:
                self._buckets[allowance.bucket].tokens -= 1
                self._dirty.add(allowance.bucket)
        return None

    def remaining(self, allowance: Allowance) -> int:
        with self._lock:
            bucket = self._buckets.get(allowance.bucket)
            return int(bucket.tokens) if bucket else allowance.per_minute

    def _load(self, allowance: Allowance) -> None:
        """The saved bucket on first use (a restart keeps what was spent), else a full one."""
        if allowance.bucket in self._buckets:
            return
        with self._db.session() as session:
            saved = session.get(RateBucket, allowance.bucket)
            bucket = (
                _Bucket(saved.tokens, saved.updated_at)
                if saved is not None
                else _Bucket(float(allowance.per_minute), self.clock())
            )
        with self._lock:
            self._buckets.setdefault(allowance.bucket, bucket)

    def save(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = [
                {
                    "name": name,
                    "tokens": self._buckets[name].tokens,
                    "updated_at": self._buckets[name].at,
                }
                for name in dirty
            ]
        if not rows:
            return
        try:
            self._write(rows)
        except Exception:
            with self._lock:
                self._dirty |= dirty  # written next time
            raise

    def _write(self, rows: list[dict]) -> None:
        with self._db.session() as session:
            for row in rows:
                statement = self._db.insert(RateBucket).values(**row)
                session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["name"],
                        set_={
                            "tokens": statement.excluded.tokens,
                            "updated_at": statement.excluded.updated_at,
                        },
                    )
                )

    def start(self) -> None:
        self._saver.start()

    def close(self) -> None:
        self._saver.stop()

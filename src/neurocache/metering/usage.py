"""Usage: requests, errors, latency, tokens and ingestion, per caller (key), agent, model and
endpoint, kept as time series in minute, hour and day buckets.

Counts are summed in memory and written every few seconds (a busy hub must not turn each
request into a write transaction). Each count goes into its minute, hour and day rows in the
same transaction, so the roll-ups are always complete; old minutes and hours are pruned,
which bounds the table (one row per cell and minute for `usage_minutes_kept_h`, and so on).

Who a count belongs to is taken from `usage_scope`, a context variable the web layer sets per
request and that background work carries along (`carrying_scope`), so a reply written on a
worker thread is still counted against the key that asked for it."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, case, delete, func, select

from neurocache.errors import InvalidInput
from neurocache.metering.periodic import Periodic
from neurocache.metering.records import UsagePoint, UsageReport, UsageSeries
from neurocache.store.database import Database
from neurocache.store.tables import USAGE_BUCKETS, Agent, ApiKey, UsageRow
from neurocache.store.types import isoformat, utcnow
from neurocache.threads import Threads

DIMENSIONS = ("caller", "agent", "model", "endpoint")
DIMENSION_LENGTH = {"caller": 100, "agent": 36, "model": 200, "endpoint": 200}
SUMMED = ("requests", "errors", "latency_ms", "tokens_in", "tokens_out", "documents", "chunks")
BUCKET_LENGTH = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
log = logging.getLogger("neurocache.usage")
MAX_POINTS = 1500  # per series: a finer bucket over a longer range must be asked in parts

# A context variable is a key, not state: each request or job has its own value.
usage_scope: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("usage_scope")
T = TypeVar("T")


@contextmanager
def scope(**dimensions: str) -> Iterator[None]:
    """Count what happens inside against these dimensions (added to the current ones)."""
    token = usage_scope.set({**usage_scope.get({}), **dimensions})
    try:
        yield
    finally:
        usage_scope.reset(token)


def carrying_scope(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn`, run later on another thread in the usage scope it was handed over in (only
    that: nothing else of the request, such as Flask's context, goes with it)."""
    handed_over = usage_scope.get({})

    def in_scope(*args: Any, **kwargs: Any) -> T:
        with scope(**handed_over):
            return fn(*args, **kwargs)

    return in_scope


def truncate(at: datetime, bucket: str) -> datetime:
    if bucket == "minute":
        return at.replace(second=0, microsecond=0)
    if bucket == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class UsageRetention:
    minutes: timedelta = timedelta(hours=48)
    hours: timedelta = timedelta(days=90)
    days: timedelta = timedelta(days=1825)

    def cutoff(self, bucket: str, now: datetime) -> datetime:
        kept = {"minute": self.minutes, "hour": self.hours, "day": self.days}[bucket]
        return now - kept


Cell = tuple[datetime, str, str, str, str]  # minute, caller, agent, model, endpoint


class UsageMeter:
    def __init__(
        self,
        db: Database,
        retention: UsageRetention = UsageRetention(),
        flush_interval_s: float = 5.0,
        threads: Threads | None = None,
    ) -> None:
        self._db = db
        self.retention = retention
        self._writer = Periodic("usage", flush_interval_s, self.flush, log, threads)
        self._pending: dict[Cell, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one flush at a time keeps sums exact

    def add(self, at: datetime | None = None, **values: Any) -> None:
        """Count `values` (some of SUMMED, plus `latency_ms`) for the current scope;
        dimensions given here (`model=`, `agent=`...) override the scope's."""
        dims = {**usage_scope.get({}), **{k: v for k, v in values.items() if k in DIMENSIONS}}
        cell = (
            truncate(at or utcnow(), "minute"),  # cut to the columns: never unwritable
            *(str(dims.get(name) or "")[: DIMENSION_LENGTH[name]] for name in DIMENSIONS),
        )
        with self._lock:
            sums = self._pending.setdefault(cell, {"latency_ms_max": 0.0})  # type: ignore[arg-type]
            for name in SUMMED:
                sums[name] = sums.get(name, 0) + values.get(name, 0)
            sums["latency_ms_max"] = max(sums["latency_ms_max"], values.get("latency_ms", 0))

    def flush(self) -> None:
        """Write what was counted since the last flush."""
        with self._write_lock:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                with self._db.session() as session:
                    for cell, sums in pending.items():
                        for bucket in USAGE_BUCKETS:
                            session.execute(self._upsert(bucket, cell, sums))
            except Exception:
                self._merge_back(pending)  # nothing counted is lost: the next flush retries
                raise

    def _merge_back(self, pending: dict[Cell, dict[str, float]]) -> None:
        with self._lock:
            for cell, sums in pending.items():
                mine = self._pending.setdefault(cell, {"latency_ms_max": 0.0})
                for name in SUMMED:
                    mine[name] = mine.get(name, 0) + sums.get(name, 0)
                mine["latency_ms_max"] = max(mine["latency_ms_max"], sums["latency_ms_max"])

    def _upsert(self, bucket: str, cell: Cell, sums: dict[str, float]) -> Any:
        minute, caller, agent, model, endpoint = cell
        row = {
            "bucket": bucket,
            "start": truncate(minute, bucket),
            "caller": caller,
            "agent": agent,
            "model": model,
            "endpoint": endpoint,
            "latency_ms_max": sums["latency_ms_max"],
            **{name: sums.get(name, 0) for name in SUMMED},
        }
        statement = self._db.insert(UsageRow).values(**row)
        table, new = UsageRow.__table__.c, statement.excluded
        grown = {name: table[name] + new[name] for name in SUMMED}
        grown["latency_ms_max"] = case(
            (new.latency_ms_max > table.latency_ms_max, new.latency_ms_max),
            else_=table.latency_ms_max,
        )
        return statement.on_conflict_do_update(
            index_elements=["bucket", "start", *DIMENSIONS], set_=grown
        )

    def prune(self, now: datetime | None = None) -> int:
        """Delete buckets past their retention; returns how many rows went."""
        now = now or utcnow()
        deleted = 0
        with self._db.session() as session:
            for bucket in USAGE_BUCKETS:
                deleted += cast(
                    "CursorResult[Any]",
                    session.execute(
                        delete(UsageRow).where(
                            UsageRow.bucket == bucket,
                            UsageRow.start < self.retention.cutoff(bucket, now),
                        )
                    ),
                ).rowcount
        return deleted

    def rows(self, bucket: str, start: datetime, end: datetime) -> list[UsageRow]:
        self.flush()
        with self._db.session() as session:
            return list(
                session.scalars(
                    select(UsageRow)
                    .where(
                        UsageRow.bucket == bucket,
                        UsageRow.start >= truncate(start, bucket),
                        UsageRow.start < end,
                    )
                    .order_by(UsageRow.start)
                )
            )

    def totals(self) -> list[dict[str, Any]]:
        """All-time sums per cell of dimensions (from the day buckets): for /metrics."""
        self.flush()
        columns = [getattr(UsageRow, name) for name in DIMENSIONS]
        sums = [func.sum(getattr(UsageRow, name)).label(name) for name in SUMMED]
        with self._db.session() as session:
            result = session.execute(
                select(*columns, *sums).where(UsageRow.bucket == "day").group_by(*columns)
            )
            return [dict(row._mapping) for row in result]

    def labels(self) -> dict[str, str]:
        """Names for the ids that appear as callers and agents (keys, agents)."""
        with self._db.session() as session:
            keys = {f"key:{k}": n for k, n in session.execute(select(ApiKey.id, ApiKey.name))}
            agents = dict(session.execute(select(Agent.id, Agent.name)).all())
        return {"owner": "owner", **keys, **agents}

    def start(self) -> None:
        self._writer.start()

    def close(self) -> None:
        self._writer.stop()


def report(
    meter: UsageMeter, bucket: str, start: datetime, end: datetime, group_by: list[str]
) -> UsageReport:
    """Series of `bucket` points from `start` to `end`, one per combination of the
    `group_by` dimensions (busiest first), every bucket present (zeros where quiet)."""
    times = bucket_starts(bucket, start, end)
    series: dict[tuple[str, ...], dict[datetime, dict[str, float]]] = {}
    for row in meter.rows(bucket, start, end):
        group = tuple(getattr(row, name) for name in group_by)
        _accumulate(series.setdefault(group, {}).setdefault(row.start, {}), row)
    labels = meter.labels()
    built = [
        _series(dict(zip(group_by, group, strict=True)), points, times, labels)
        for group, points in series.items()
    ]
    built.sort(key=lambda s: -s.totals.requests)
    overall: dict[str, float] = {}
    for one in series.values():
        for sums in one.values():
            _add(overall, sums)
    return UsageReport(
        bucket=bucket,
        start=isoformat(times[0]) if times else None,
        end=isoformat(end),
        group_by=group_by,
        series=built,
        totals=_public(overall),
    )


def bucket_starts(bucket: str, start: datetime, end: datetime) -> list[datetime]:
    step, at, times = BUCKET_LENGTH[bucket], truncate(start, bucket), []
    while at < end:
        times.append(at)
        if len(times) > MAX_POINTS:
            raise InvalidInput(
                f"that range holds more than {MAX_POINTS} {bucket}s: ask for a "
                "shorter range or a coarser bucket",
                details={"bucket": bucket, "max_points": MAX_POINTS},
            )
        at += step
    return times


def _accumulate(sums: dict[str, float], row: UsageRow) -> None:
    _add(sums, {name: getattr(row, name) for name in (*SUMMED, "latency_ms_max")})


def _add(sums: dict[str, float], more: dict[str, float]) -> None:
    for name in SUMMED:
        sums[name] = sums.get(name, 0) + more.get(name, 0)
    sums["latency_ms_max"] = max(sums.get("latency_ms_max", 0), more.get("latency_ms_max", 0))


def _public(sums: dict[str, float], at: datetime | None = None) -> UsagePoint:
    """What a client sees: counts as integers, latency as average and maximum."""
    requests = int(sums.get("requests", 0))
    counts = {name: int(sums.get(name, 0)) for name in SUMMED if name != "latency_ms"}
    return UsagePoint(
        t=isoformat(at) if at is not None else None,
        **counts,
        latency_ms_avg=round(sums.get("latency_ms", 0) / requests, 2) if requests else 0,
        latency_ms_max=round(sums.get("latency_ms_max", 0), 2),
    )


def _series(
    group: dict[str, str],
    points: dict[datetime, dict[str, float]],
    times: list[datetime],
    labels: dict[str, str],
) -> UsageSeries:
    total: dict[str, float] = {}
    for sums in points.values():
        _add(total, sums)
    named = {f"{name}_name": labels[value] for name, value in group.items() if value in labels}
    return UsageSeries(
        group={**group, **named},
        totals=_public(total),
        points=[_public(points.get(at, {}), at) for at in times],
    )

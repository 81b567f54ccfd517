"""What the usage meter answers: a report of series of points over time."""

from __future__ import annotations

from neurocache.records import Record


class UsagePoint(Record):
    """The sums of one bucket (`t`: its start), or of a whole range (no `t`)."""

    t: str | None = None
    requests: int
    errors: int
    tokens_in: int
    tokens_out: int
    documents: int
    chunks: int
    latency_ms_avg: float
    latency_ms_max: float


class UsageSeries(Record):
    """One combination of the grouped dimensions (and their names), over the range."""

    group: dict[str, str]
    totals: UsagePoint
    points: list[UsagePoint]


class UsageReport(Record):
    bucket: str
    start: str | None
    end: str
    group_by: list[str]
    series: list[UsageSeries]
    totals: UsagePoint

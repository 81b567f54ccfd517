"""Usage over time (`GET /api/v1/usage`) and the same counts for Prometheus (`GET /metrics`)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import Field, field_validator

from neurocache.errors import InvalidInput
from neurocache.hub import Hub
from neurocache.metering.records import UsageReport
from neurocache.metering.usage import BUCKET_LENGTH, DIMENSIONS, report, truncate
from neurocache.search.records import IndexStatus
from neurocache.store.types import utcnow
from neurocache.web.api import Moment, QueryModel, endpoint
from neurocache.web.auth import current_hub

bp = Blueprint("usage", __name__)
DEFAULT_POINTS = {"minute": 60, "hour": 24, "day": 30}  # the current bucket included


class UsageQuery(QueryModel):
    bucket: Literal["minute", "hour", "day"] = Field("hour", description="Point width.")
    start: Moment | None = Field(
        None,
        description="ISO 8601; default: 60 minutes, 24 "
        "hours or 30 days up to `end`, its own bucket included.",
    )
    end: Moment | None = Field(None, description="ISO 8601; default: now.")
    group_by: str = Field("", description="Comma-separated: caller, agent, model, endpoint.")

    @field_validator("group_by")
    @classmethod
    def _known(cls, value: str) -> str:
        unknown = [d for d in value.split(",") if d and d not in DIMENSIONS]
        if unknown:
            raise ValueError(f"group_by takes {', '.join(DIMENSIONS)}; not {unknown}")
        return value


@bp.get("/api/v1/usage")
@endpoint(scope="admin", query=UsageQuery, responses={200: UsageReport})
def usage(query: UsageQuery) -> UsageReport:
    """Requests, errors, latency, tokens and ingestion over time, per caller (`owner` or
    `key:<id>`), agent, model or endpoint. Every bucket of the range is present."""
    end = query.end or utcnow()
    start = query.start or (
        truncate(end, query.bucket)
        - BUCKET_LENGTH[query.bucket] * (DEFAULT_POINTS[query.bucket] - 1)
    )
    if start >= end:
        raise InvalidInput("`start` must be before `end`", details={"field": "start"})
    group_by = [d for d in query.group_by.split(",") if d]
    return report(current_hub().usage, query.bucket, start, end, group_by)


@bp.get("/metrics")
@endpoint(scope="admin", responses={200: None})
def metrics() -> Response:
    """Prometheus' text format: all-time usage counters per caller, agent, model and
    endpoint, and gauges of the store, the index and the models."""
    registry = CollectorRegistry()
    registry.register(HubCollector(current_hub()))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")


COUNTERS = {
    "requests": "Requests answered.",
    "errors": "Requests answered with an error status.",
    "tokens_in": "Tokens given to models.",
    "tokens_out": "Tokens models wrote.",
    "documents": "Documents ingested.",
    "chunks": "Chunks ingested.",
}


class HubCollector:
    """Read at each scrape: nothing is kept between scrapes but the store."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Any:
        cells = self.hub.usage.totals()
        for name, help_text in COUNTERS.items():
            family = CounterMetricFamily(f"neurocache_{name}", help_text, labels=DIMENSIONS)
            for cell in cells:
                family.add_metric([cell[d] for d in DIMENSIONS], cell[name] or 0)
            yield family
        latency = CounterMetricFamily(
            "neurocache_request_latency_seconds",
            "Time spent answering requests (sum).",
            labels=DIMENSIONS,
        )
        for cell in cells:
            latency.add_metric([cell[d] for d in DIMENSIONS], (cell["latency_ms"] or 0) / 1000)
        yield latency
        yield from self._gauges()

    def _gauges(self) -> Any:
        status = self.hub.status()
        yield GaugeMetricFamily(
            "neurocache_store_bytes", "Size of the store.", value=status["store"]["size_bytes"] or 0
        )
        yield GaugeMetricFamily(
            "neurocache_memories", "Memories in the store.", value=status["store"]["memories"]
        )
        index: IndexStatus = status["indexes"]["vectors"]
        yield GaugeMetricFamily(
            "neurocache_index_vectors", "Vectors in the index.", value=index.vectors or 0
        )
        yield GaugeMetricFamily(
            "neurocache_index_bytes", "Size of the vector index file.", value=index.size_bytes
        )
        running = GaugeMetricFamily(
            "neurocache_model_running", "1 while a model runs.", labels=["model", "role"]
        )
        for model in self.hub.models.list():
            running.add_metric([model.id, model.role], 1.0 if model.state == "running" else 0.0)
        yield running
        yield GaugeMetricFamily(
            "neurocache_uptime_seconds", "Seconds since the hub started.", value=status["uptime_s"]
        )

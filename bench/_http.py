"""The HTTP client the latency benchmarks time the hub through: one kept-alive urllib3
connection. `requests` adds 0.6-1.5 ms of its own to every call on this machine (its
session, hooks and cookie handling), which is the client's cost, not the hub's."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import urllib3


class LeanClient:
    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.pool = urllib3.HTTPConnectionPool(
            parts.hostname,
            parts.port,
            maxsize=1,
            retries=False,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    def post(self, path: str, body: dict[str, Any], timeout: float = 60) -> Any:
        """The JSON answer of a POST; raises on any status but 2xx."""
        response = self.pool.request("POST", path, body=json.dumps(body).encode(), timeout=timeout)
        if not 200 <= response.status < 300:
            raise RuntimeError(f"POST {path}: {response.status} {response.data[:300]!r}")
        return json.loads(response.data)

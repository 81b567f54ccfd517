"""`neurocache cluster up`: a team hub on one machine, every part a process of its own on
loopback: PostgreSQL (with pgvector), Redis, N hub processes (gunicorn, one shared data
dir and store) and HAProxy in front with sticky sessions for Socket.IO. Started in that
order, stopped in the reverse one; nothing it started outlives it."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from neurocache.access.keys import ApiKeys
from neurocache.access.owner_token import OwnerToken
from neurocache.cluster.services import (
    READY_TIMEOUT_S,
    HAProxy,
    Postgres,
    Redis,
    Service,
    free_port,
)
from neurocache.errors import Unavailable
from neurocache.events import publish_nowhere
from neurocache.store import Database
from neurocache.store.audit import Actor

ACTOR = Actor("cli")


@dataclass
class Cluster:
    folder: Path
    hubs: int = 2
    postgres: Postgres | None = None
    redis: Redis | None = None
    hub_services: list[Service] = field(default_factory=list)
    balancer: HAProxy | None = None
    key: str = ""

    @property
    def data_dir(self) -> Path:
        return self.folder / "hub"

    def up(self) -> Cluster:
        """Everything started; on a failure, what was started is stopped again."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL runs as `postgres`, who must enter the folder
            self.folder.chmod(self.folder.stat().st_mode | 0o711)
        try:
            self.postgres = Postgres("postgres", free_port(), folder=self.folder / "postgres")
            self.postgres.start()
            self.redis = Redis("redis", free_port(), folder=self.folder / "redis").start()
            self._prepare_store()
            self.balancer = HAProxy("haproxy", free_port(), folder=self.folder / "haproxy")
            for number in range(1, self.hubs + 1):
                self.hub_services.append(self._start_hub(number))
            self.balancer.backends = [hub.port for hub in self.hub_services]
            self.balancer.start()
        except BaseException:
            self.down()
            raise
        return self

    def _prepare_store(self) -> None:
        """Migrations once, before any hub (they would race); an admin key to print; the
        owner's token in the shared data dir, so every hub takes the same one."""
        assert self.postgres is not None
        db = Database(self.postgres.url)
        try:
            db.migrate()
            _view, self.key = ApiKeys(db, publish_nowhere).create("cluster admin", ["admin"], ACTOR)
        finally:
            db.close()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        OwnerToken.load_or_create(self.data_dir)

    def hub_environment(self) -> dict[str, str]:
        assert self.postgres is not None and self.redis is not None
        return {
            **os.environ,
            "NEUROCACHE_DATA_DIR": str(self.data_dir),
            "NEUROCACHE_DATABASE_URL": self.postgres.url,
            "NEUROCACHE_VECTOR_BACKEND": "pgvector",
            "NEUROCACHE_REDIS_URL": self.redis.url,
            "NEUROCACHE_PUBLIC_URL": self.balancer.url if self.balancer else "",
        }

    def _start_hub(self, number: int) -> Service:
        hub = Service(f"hub {number}", free_port())
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        hub.spawn(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:neurocache.cluster.gunicorn_conf",
                "-b",
                f"127.0.0.1:{hub.port}",
                "neurocache.cluster.wsgi:app",
            ],
            logs / f"hub{number}.log",
            env=self.hub_environment(),
        )
        _wait_healthy(f"http://127.0.0.1:{hub.port}", hub)
        return hub

    def down(self) -> None:
        """Every process stopped, the last started first (the balancer, then the hubs,
        which drain their requests, then Redis and PostgreSQL)."""
        for service in [self.balancer, *reversed(self.hub_services), self.redis, self.postgres]:
            if service is not None:
                service.stop()

    def view(self) -> dict[str, Any]:
        assert self.balancer is not None
        services = [self.postgres, self.redis, *self.hub_services, self.balancer]
        return {
            "url": self.balancer.url,
            "hubs": [f"http://127.0.0.1:{hub.port}" for hub in self.hub_services],
            "key": self.key,
            "pids": {s.name: s.pid for s in services if s is not None},
            # what `neurocache backup` (or any command) needs to reach this team's store
            "database_url": self.postgres.url if self.postgres else None,
            "data_dir": str(self.data_dir),
        }


def _wait_healthy(url: str, hub: Service) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if hub.process is not None and hub.process.poll() is not None:
            raise Unavailable(f"{hub.name} exited while starting: see {hub.log_path}")
        try:
            if requests.get(url + "/api/v1/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise Unavailable(f"{hub.name} was not healthy within {READY_TIMEOUT_S:.0f} s")

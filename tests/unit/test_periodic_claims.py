"""Turns at periodic work among processes sharing a store: two `PeriodicClaims` on one
store stand for two hub processes (the store is SQLite here; tests/e2e/test_postgres.py
races them on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from neurocache.runtime.periodic_claims import OwnTurns, PeriodicClaims
from neurocache.store import Database
from neurocache.store.tables import PeriodicClaim
from neurocache.store.types import utcnow


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    yield database
    database.close()


def process(db: Database, name: str, lease_s: float = 60.0) -> PeriodicClaims:
    return PeriodicClaims(db, lease_s=lease_s, worker_id=name)


def test_a_hub_alone_always_has_the_turn_at_its_interval():
    alone = OwnTurns()
    assert alone.wake_s(600) == 600
    with alone.turn("maintenance", 600) as mine, alone.turn("maintenance", 600) as again:
        assert mine and again


def test_one_process_at_a_time_and_once_per_interval(db):
    a, b = process(db, "a"), process(db, "b")
    with a.turn("maintenance", 3600) as a_runs, b.turn("maintenance", 3600) as b_runs:
        assert a_runs and not b_runs  # held by a
    with b.turn("maintenance", 3600) as b_runs:
        assert not b_runs  # a finished it a moment ago: not due for an hour
    with b.turn("maintenance", 0) as b_runs:
        assert b_runs  # due at once


def test_a_turn_that_failed_is_due_again_at_once(db):
    a, b = process(db, "a"), process(db, "b")
    with pytest.raises(RuntimeError), a.turn("backups", 3600):
        raise RuntimeError("disk full")
    with b.turn("backups", 3600) as b_runs:
        assert b_runs


def test_a_dead_holders_turn_passes_on_once_its_lease_lapsed(db):
    def held_by_a_dead_process(lease_until):
        with db.session() as session:
            session.merge(PeriodicClaim(name="scan", claimed_by="dead", lease_until=lease_until))

    b = process(db, "b")
    held_by_a_dead_process(utcnow() + timedelta(seconds=30))
    with b.turn("scan", 10) as b_runs:
        assert not b_runs
    held_by_a_dead_process(utcnow() - timedelta(seconds=1))
    with b.turn("scan", 10) as b_runs:
        assert b_runs


def test_the_holder_renews_its_lease_while_it_runs(db):
    a, b = process(db, "a", lease_s=0.6), process(db, "b", lease_s=0.6)
    with a.turn("consolidation", 0) as a_runs:
        assert a_runs
        deadline = time.monotonic() + 1.5  # two and a half leases
        while time.monotonic() < deadline:
            with b.turn("consolidation", 0) as b_runs:
                assert not b_runs
            time.sleep(0.1)
    assert a.threads.join(2) == []  # no renewal left behind


def test_racing_processes_run_a_due_task_once(db):
    ran: list[str] = []
    start = threading.Barrier(4)

    def wake(claims: PeriodicClaims) -> None:
        start.wait()
        with claims.turn("retention", 3600) as mine:
            if mine:
                ran.append(claims.worker_id)

    racers = [threading.Thread(target=wake, args=(process(db, f"p{n}"),)) for n in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert len(ran) == 1

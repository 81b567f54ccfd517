"""Persistent background jobs: a row per job, a few worker threads. A job's row is
written in the transaction of the work it is for (`row`), then handed to the workers
(`dispatch`). Jobs that were queued or running when the hub stopped run again at the next
start (handlers are idempotent)."""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from pydantic import Field
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from neurocache.events import Publish
from neurocache.metering.usage import scope, usage_scope
from neurocache.records import Record
from neurocache.store import Database
from neurocache.store.database import get_or_not_found, store_busy
from neurocache.store.tables import Job
from neurocache.store.types import isoformat, new_id, utcnow
from neurocache.threads import Threads

log = logging.getLogger("neurocache.jobs")
ROOM = "jobs"
USAGE_SCOPE = "usage_scope"  # payload key: whose work it is
PROGRESS_INTERVAL_S = 0.25
LIVE = ("queued", "running")
BUSY_ATTEMPTS = 3  # a job that found the store locked runs again (waits of 1 s, 2 s)

Handler = Callable[[str, dict[str, Any], Callable[[float], None]], None]
CancelHook = Callable[[Session, dict[str, Any]], None]


class JobCancelled(Exception):
    """Raised inside a handler (by its progress callback) when its job was cancelled."""


JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobRecord(Record):
    id: str
    kind: str
    status: JobStatus
    progress: float = Field(description="The share of the work done, 0..1.")
    created_at: str
    updated_at: str
    error: str | None = None
    elapsed_s: float | None = Field(None, description="Seconds it has run (while running).")
    eta_s: float | None = Field(
        None, description="Seconds it should still take, at its pace so far (while running)."
    )


def job_view(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        kind=job.kind,
        status=cast(JobStatus, job.status),
        progress=round(job.progress, 4),
        created_at=isoformat(job.created_at) or "",
        updated_at=isoformat(job.updated_at) or "",
        error=job.error or None,
    )


def process_id() -> str:
    """This hub process among those sharing a store: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


@dataclass(frozen=True)
class Claims:
    """Who may run a job. One process alone (`shared=False`, SQLite) runs whatever it
    finds unfinished; hub processes sharing a store (team mode) each claim a job for
    `lease_s`, renewed with every progress report, and take one over only once its lease
    ran out (its process died, or stalled): so a job is run once, and a killed process's
    jobs are picked up within a lease by the others' sweep."""

    shared: bool = False
    lease_s: float = 60.0
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
    )

    @property
    def sweep_s(self) -> float:
        return max(1.0, min(self.lease_s / 4, 15.0))

    def claimable(self, now: datetime) -> ColumnElement[bool]:
        if not self.shared:
            return Job.status.in_(LIVE)
        lapsed = or_(Job.claimed_by.is_(None), Job.lease_until < now)
        return or_(Job.status == "queued", and_(Job.status == "running", lapsed))

    def claim(self, now: datetime, **values: Any) -> dict[str, Any]:
        """The columns a claim sets: an UPDATE's values (so a dict), no one's answer."""
        return {"status": "running", "claimed_by": self.worker_id, **self.renewal(now), **values}

    def renewal(self, now: datetime) -> dict[str, Any]:
        return {"lease_until": now + timedelta(seconds=self.lease_s)}


class JobQueue:
    def __init__(
        self,
        db: Database,
        publish: Publish,
        workers: int = 1,
        threads: Threads | None = None,
        claims: Claims | None = None,
    ) -> None:
        self.db = db
        self.threads = threads or Threads()
        self.claims = claims or Claims()
        self.publish = publish
        self.workers = workers
        self.handlers: dict[str, Handler] = {}
        self.cancel_hooks: dict[str, CancelHook] = {}  # what a kind's cancel also writes
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._running: set[str] = set()  # jobs a worker of this process is running
        self._began: dict[str, float] = {}  # when each of them started: for time left
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def register(self, kind: str, handler: Handler, on_cancel: CancelHook | None = None) -> None:
        self.handlers[kind] = handler
        if on_cancel is not None:
            self.cancel_hooks[kind] = on_cancel

    def row(self, kind: str, payload: dict[str, Any]) -> Job:
        """A job row for the caller to add in its own transaction, so the work and its job
        are written together (a crash between two commits would leave work no job does);
        `dispatch` it after the commit."""
        # Whose work it is travels with the job, so its usage is counted against them.
        return Job(
            id=new_id(),
            kind=kind,
            status="queued",
            progress=0.0,
            payload={**payload, USAGE_SCOPE: usage_scope.get({})},
        )

    def dispatch(self, job_id: str) -> None:
        """Hand a committed job to the workers (one not dispatched runs at the next start)."""
        self._announce(job_id)  # first: a worker's own news must not come before it
        self._queue.put(job_id)

    def get(self, job_id: str) -> JobRecord:
        with self.db.session() as session:
            view = job_view(get_or_not_found(session, Job, job_id, "job"))
        return self._with_time_left(view)

    def _with_time_left(self, view: JobRecord) -> JobRecord:
        """`eta_s` of a job running here, from its pace so far (progress is the share of
        the work done, so the pace holds), once there is enough of it to judge by."""
        began = self._began.get(view.id)
        if began is None or view.status != "running" or view.progress < 0.01:
            return view
        elapsed = time.monotonic() - began
        return view.model_copy(
            update={
                "elapsed_s": round(elapsed, 1),
                "eta_s": round(elapsed * (1 - view.progress) / view.progress, 1),
            }
        )

    def cancel(self, job_id: str) -> JobRecord:
        """A queued job never runs; a running one stops at its next progress report."""
        with self.db.session() as session:
            job = get_or_not_found(session, Job, job_id, "job")
            if job.status in ("queued", "running"):
                job.status = "cancelled"
                if (hook := self.cancel_hooks.get(job.kind)) is not None:
                    hook(session, dict(job.payload))  # in the same transaction
        self._announce(job_id)
        return self.get(job_id)

    def cancel_live(self, session: Session, kind: str, key: str, value: str) -> list[str]:
        """In the caller's transaction: cancel the queued or running jobs of `kind` whose
        payload holds `key: value` (no cancel hook: the caller writes what goes with it).
        Their ids, to `announce` after the commit."""
        jobs = list(
            session.scalars(
                select(Job).where(
                    Job.kind == kind, Job.status.in_(LIVE), Job.payload[key].as_string() == value
                )
            )
        )
        for job in jobs:
            job.status = "cancelled"
        return [job.id for job in jobs]

    def announce(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._announce(job_id)

    def _cancelled(self, job_id: str) -> bool:
        with self.db.session() as session:
            return session.scalar(select(Job.status).where(Job.id == job_id)) == "cancelled"

    def start(self) -> None:
        """Start the workers, with the jobs a previous run left unfinished first (once:
        a second call finds them started)."""
        if self._threads:
            return
        for job_id in self.claimable():
            self._queue.put(job_id)
        for number in range(self.workers):
            self._threads.append(self.threads.start(f"job-worker-{number}", self._work))
        if self.claims.shared:  # another process's jobs, once its lease ran out
            self._sweeping = self.threads.start("job-sweep", self._sweep)

    def claimable(self) -> list[str]:
        """The unfinished jobs this process may claim now, oldest first."""
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Job.id).where(self.claims.claimable(utcnow())).order_by(Job.created_at)
                )
            )

    def _sweep(self) -> None:
        while not self._stopping.wait(self.claims.sweep_s):
            with self._lock:
                mine = set(self._running)
            for job_id in self.claimable():
                if job_id not in mine:
                    self._queue.put(job_id)

    def stop(self) -> None:
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(30)
        self._threads.clear()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Until no job waits or runs, and no worker is still finishing one (a cancelled
        job's handler cleans up after its row already says cancelled)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.session() as session:
                busy = session.scalar(
                    select(Job.id).where(Job.status.in_(("queued", "running"))).limit(1)
                )
            with self._lock:
                working = bool(self._running)
            if busy is None and not working:
                return True
            time.sleep(0.05)
        return False

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            with self._lock:  # a job queued twice (dispatched, then found at start) runs once
                if job_id in self._running:
                    continue
                self._running.add(job_id)
                self._began[job_id] = time.monotonic()
            try:
                self._run_when_store_free(job_id)
            finally:
                with self._lock:
                    self._running.discard(job_id)
                    self._began.pop(job_id, None)

    def _run_when_store_free(self, job_id: str) -> None:
        """Run a job; one that found the store locked (another writer held it past the busy
        timeout) runs again from the start (handlers are idempotent), said in one line."""
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            try:
                self._run(job_id)
                return
            except Exception as exc:
                if not store_busy(exc):
                    raise
                if attempt == BUSY_ATTEMPTS:  # left queued or running: the next start runs it
                    log.warning("job %s: the store stayed busy; it runs at the next start", job_id)
                    return
                log.warning(
                    "job %s: the store was busy; trying again (%d of %d)",
                    job_id,
                    attempt + 1,
                    BUSY_ATTEMPTS,
                )
                time.sleep(attempt)

    def _run(self, job_id: str) -> None:
        claimed = self._claim(job_id)
        if claimed is None:
            return  # cancelled while queued, finished, or another process's claim holds
        kind, payload = claimed
        self._announce(job_id)
        last = [0.0]

        def progress(fraction: float) -> None:
            if self._cancelled(job_id):
                raise JobCancelled(job_id)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                if not self._renew(job_id, min(max(fraction, 0.0), 0.999)):
                    raise JobCancelled(job_id)  # its claim ran out and another took it

        try:
            with scope(**payload.pop(USAGE_SCOPE, None) or {}):
                self.handlers[kind](job_id, payload, progress)
        except JobCancelled:
            self._announce(job_id)
        except Exception as exc:  # the job fails; the worker lives on
            if store_busy(exc):
                raise  # not the job's fault: it runs again (`_run_when_store_free`)
            log.exception("job %s (%s) failed", job_id, kind)
            self._finish(job_id, status="failed", error=str(exc) or type(exc).__name__)
        else:
            self._finish(job_id, status="done", progress=1.0)

    def _claim(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        """Its (kind, payload) once this process holds the job: one atomic update, so of
        several processes (or workers) that try, one wins."""
        now = utcnow()
        with self.db.session() as session:
            won = session.execute(
                update(Job)
                .where(Job.id == job_id, self.claims.claimable(now))
                .values(self.claims.claim(now, progress=0.0))
                .execution_options(synchronize_session=False)
            )
            if getattr(won, "rowcount", 0) != 1:
                return None
            job = session.get(Job, job_id)
            return (job.kind, dict(job.payload)) if job is not None else None

    def _renew(self, job_id: str, progress: float) -> bool:
        """Progress written and the claim extended; False when it is no longer ours."""
        return self._held_update(job_id, progress=progress, **self.claims.renewal(utcnow()))

    def _finish(self, job_id: str, **values: Any) -> None:
        """The end written, if the job is still ours and running (a cancel that came too
        late keeps its word; a claim lost to another process leaves the end to it)."""
        if not self._held_update(job_id, **values):
            log.info("job %s ended here, but it was cancelled or claimed elsewhere", job_id)

    def _held_update(self, job_id: str, **values: Any) -> bool:
        with self.db.session() as session:
            done = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == "running",
                    Job.claimed_by == self.claims.worker_id,
                )
                .values(**values, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        self._announce(job_id)
        return getattr(done, "rowcount", 0) == 1

    def _announce(self, job_id: str) -> None:
        self.publish("job.progress", self.get(job_id).plain(), ROOM)

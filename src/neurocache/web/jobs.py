"""Background jobs: their status and progress, and cancelling one."""

from __future__ import annotations

from flask import Blueprint

from neurocache.runtime.jobs import JobRecord
from neurocache.web.api import (
    endpoint,
)
from neurocache.web.auth import current_hub

bp = Blueprint("jobs", __name__, url_prefix="/api/v1")


@bp.delete("/jobs/<job_id>")
@endpoint(scope="write", responses={200: JobRecord})
def cancel_job(job_id: str) -> JobRecord:
    """Cancel a job: a queued one never runs, a running one stops at its next step."""
    return current_hub().jobs.cancel(job_id)


@bp.get("/jobs/<job_id>")
@endpoint(scope="read", responses={200: JobRecord})
def get_job(job_id: str) -> JobRecord:
    """A background job's status and progress."""
    return current_hub().jobs.get(job_id)

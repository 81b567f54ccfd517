"""Background jobs: their status and progress, and cancelling one."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from neurocache.web.api import (
    endpoint,
)
from neurocache.web.auth import current_hub

bp = Blueprint("jobs", __name__, url_prefix="/api/v1")


class JobOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(description="The share of the work done, 0..1.")
    error: str | None = None
    elapsed_s: float | None = Field(None, description="Seconds it has run (while running).")
    eta_s: float | None = Field(
        None, description="Seconds it should still take, at its pace so far (while running)."
    )


@bp.delete("/jobs/<job_id>")
@endpoint(scope="write", responses={200: JobOut})
def cancel_job(job_id: str):
    """Cancel a job: a queued one never runs, a running one stops at its next step."""
    return current_hub().jobs.cancel(job_id)


@bp.get("/jobs/<job_id>")
@endpoint(scope="read", responses={200: JobOut})
def get_job(job_id: str):
    """A background job's status and progress."""
    return current_hub().jobs.get(job_id)

"""The hub's chat models as Memory Cache's "llamafiles" (the `memory_cache_compat` API):
its client lists, downloads, starts and stops them by `filename`, which is the hub's model
id here, and shows each one's state in its own words."""

from __future__ import annotations

from typing import Literal

from neurocache.llm.records import ModelRecord
from neurocache.records import Record

LlamafileState = Literal["running", "downloading", "idle", "absent", "error"]
# The hub's model states in Memory Cache's words: `idle` is downloaded and not running;
# it says `running` as soon as the server is spawned.
STATES: dict[str, LlamafileState] = {
    "absent": "absent",
    "downloading": "downloading",
    "installed": "idle",
    "starting": "running",
    "running": "running",
    "restarting": "running",
    "failed": "error",
}
MESSAGES: dict[LlamafileState, str] = {
    "running": "Llamafile is running",
    "downloading": "Llamafile is downloading",
    "idle": "Llamafile is downloaded",
    "absent": "Llamafile is not downloaded",
    "error": "Llamafile failed",
}


class LlamafileInfo(Record):
    """One entry of Memory Cache's catalog (`llamafile_infos.json`)."""

    model: str
    size: str
    license: str
    license_url: str
    filename: str
    url: str


class LlamafileStatus(Record):
    """`progress` is a percentage; the byte counts come while it downloads."""

    status: LlamafileState
    message: str
    progress: int
    content_length: int | None = None
    written: int | None = None


def human_size(size: int | None) -> str:
    """Memory Cache writes sizes as `3.97 GB`."""
    if not size:
        return "unknown size"
    if size >= 10**9:
        return f"{size / 10**9:.2f} GB"
    return f"{size / 10**6:.1f} MB"


def is_llamafile(model: ModelRecord) -> bool:
    """What Memory Cache can run: a chat model (embedders and rerankers serve the hub)."""
    return model.role == "chat"


def llamafile_info(model: ModelRecord) -> LlamafileInfo:
    return LlamafileInfo(
        model=model.name,
        size=human_size(model.size),
        license=model.license or "",
        license_url=model.license_url or "",
        filename=model.id,
        url=model.url or model.base_url or "",
    )


def llamafile_status(model: ModelRecord) -> LlamafileStatus:
    state = STATES.get(model.state, "error")
    message = model.error if state == "error" else None
    if state != "downloading":
        done = state in ("idle", "running")
        return LlamafileStatus(
            status=state, message=message or MESSAGES[state], progress=100 if done else 0
        )
    progress = model.progress
    written = progress.bytes if progress else 0  # queued: no bytes yet
    total = (progress.total if progress else None) or model.size
    percent = min(100, int(100 * written / total)) if total else 0
    return LlamafileStatus(
        status=state,
        message=MESSAGES[state],
        progress=percent,
        content_length=total,
        written=written,
    )

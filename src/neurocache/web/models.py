"""Models: list, register (a local file or a remote server), download, start, stop."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint
from pydantic import Field, model_validator

from neurocache.llm.records import ModelFile, ModelRecord
from neurocache.web.api import CONFLICT, ApiModel, LocalPath, QueryModel, RequestModel, endpoint
from neurocache.web.auth import current_actor, current_hub, current_principal

bp = Blueprint("models", __name__, url_prefix="/api/v1/models")


class RegisterModel(RequestModel):
    """Either `path` (a local .gguf or llamafile) or `base_url` + `model` (a remote
    OpenAI-compatible server)."""

    path: LocalPath | None = Field(None, description="A local .gguf file or llamafile.")
    base_url: str | None = Field(
        None, pattern=r"^https?://", description="A remote OpenAI-compatible server."
    )
    api_key: str | None = Field(None, description="Sent to the remote server; never shown.")
    model: str | None = Field(None, description="The remote server's model name.")
    name: str | None = Field(None, max_length=200)
    role: Literal["chat", "embedding", "rerank"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> RegisterModel:
        if (self.path is None) == (self.base_url is None):
            raise ValueError("give either `path`, or `base_url` and `model`")
        if self.base_url is not None and not self.model:
            raise ValueError("a remote server needs `model`")
        if self.path is not None and (self.api_key or self.model):
            raise ValueError("`api_key` and `model` go with `base_url`")
        return self


class ModelList(ApiModel):
    models: list[ModelRecord]


class LogsQuery(QueryModel):
    lines: int = Field(200, ge=1, le=2000)


class Logs(ApiModel):
    lines: list[str]


@bp.get("")
@endpoint(scope="read", responses={200: ModelList})
def list_models() -> dict[str, list[ModelRecord]]:
    """The catalog and every registered model, with state and download progress."""
    return {"models": current_hub().models.list()}


@bp.post("")
@endpoint(scope="admin", body=RegisterModel, responses={201: ModelRecord}, errors=CONFLICT)
def register_model(body: RegisterModel) -> tuple[ModelRecord, int]:
    """Register a local model file or a remote OpenAI-compatible server."""
    models = current_hub().models
    if body.path is not None:
        owner = current_principal().kind == "owner"
        return models.register_local(
            body.path, current_actor(), name=body.name, role=body.role, anywhere=owner
        ), 201
    return models.register_remote(
        body.base_url or "",
        body.model or "",
        current_actor(),
        api_key=body.api_key,
        name=body.name,
        role=body.role or "chat",
    ), 201


class ModelFiles(ApiModel):
    files: list[ModelFile]


@bp.get("/files")
@endpoint(scope="admin", responses={200: ModelFiles})
def model_files() -> dict[str, list[ModelFile]]:
    """Model files (GGUF, llamafile) on this machine that are not registered yet, to add:
    in the models dir, and for the owner also in the usual download folders."""
    anywhere = current_principal().kind == "owner"
    return {"files": current_hub().models.local_files(anywhere)}


@bp.get("/<model_id>")
@endpoint(scope="read", responses={200: ModelRecord})
def get_model(model_id: str) -> ModelRecord:
    """One model."""
    return current_hub().models.get(model_id)


@bp.post("/<model_id>/download")
@endpoint(scope="admin", responses={202: ModelRecord}, errors=CONFLICT)
def download_model(model_id: str) -> tuple[ModelRecord, int]:
    """Start (or resume) downloading a catalog model; progress arrives as events."""
    return current_hub().models.download(model_id, current_actor()), 202


@bp.delete("/<model_id>/download")
@endpoint(scope="admin", responses={200: ModelRecord}, errors=CONFLICT)
def cancel_download(model_id: str) -> ModelRecord:
    """Cancel a download; the partial file is deleted."""
    return current_hub().models.cancel_download(model_id, current_actor())


@bp.post("/<model_id>/start")
@endpoint(scope="admin", responses={202: ModelRecord}, errors=CONFLICT)
def start_model(model_id: str) -> tuple[ModelRecord, int]:
    """Start the model's server; another running model of its role stops once this one
    answers (a reranker runs inside the hub: choose it with the `reranker` setting)."""
    return current_hub().models.start(model_id, current_actor()), 202


@bp.post("/<model_id>/stop")
@endpoint(scope="admin", responses={200: ModelRecord})
def stop_model(model_id: str) -> ModelRecord:
    """Stop the model's server."""
    return current_hub().models.stop(model_id, current_actor())


@bp.get("/<model_id>/logs")
@endpoint(scope="read", query=LogsQuery, responses={200: Logs})
def model_logs(model_id: str, query: LogsQuery) -> dict[str, list[str]]:
    """The last lines of the model server's output."""
    return {"lines": current_hub().models.logs(model_id, query.lines)}


@bp.delete("/<model_id>")
@endpoint(scope="admin", responses={200: ModelRecord}, errors=CONFLICT)
def delete_model(model_id: str) -> ModelRecord:
    """Delete a downloaded model's file, or forget a registered one."""
    return current_hub().models.delete(model_id, current_actor())

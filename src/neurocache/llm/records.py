"""What the model services answer: models (catalog entries merged with their rows and
servers), download progress, model servers' state, model files found on this machine."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from neurocache.records import Record

Role = Literal["chat", "embedding", "rerank"]
ModelState = Literal[
    "absent", "downloading", "installed", "starting", "running", "restarting", "failed"
]


def _given_only(record: Sparse, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
    """The record's fields as `handler` dumps them, less those it was not given."""
    dumped: dict[str, Any] = handler(record)
    return {name: value for name, value in dumped.items() if name in record.model_fields_set}


class Sparse(Record):
    """A record whose fields with a default appear in its JSON only when they were given.

    A model's view differs by kind (a catalog entry, a registered file, a remote server;
    one downloading, one running), and the API has always left out what a kind does not
    have rather than saying null: `path: null` is "registered, not installed", no `path`
    is "not registered". Required fields are always given, so always present."""

    # A lambda, for its lack of a return annotation: pydantic then describes the record's
    # own fields in the API document (a serializer typed `-> dict` reads as "any object").
    _serialize = model_serializer(mode="wrap")(lambda self, handler: _given_only(self, handler))


class CatalogEntry(Record):
    """One model of the catalog file (`catalog.json`, or the `catalog_path` setting)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    name: str
    role: Role
    format: Literal["gguf", "llamafile"]
    url: str = Field(pattern=r"^https?://")
    size: int = Field(gt=0, description="Bytes (approximate when sha256 is empty).")
    sha256: str = Field("", pattern=r"^([0-9a-f]{64})?$")
    license: str
    license_url: str | None = None
    context_length: int | None = None
    description: str = ""
    recommended: bool = False

    @property
    def file_name(self) -> str:
        name = self.url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        return name or f"{self.id}.{self.format}"


class FileFacts(Record):
    """What a local model file's header says of it (a llamafile says no more than that)."""

    format: Literal["gguf", "llamafile"]
    role: Role
    name: str
    context_length: int | None
    architecture: str | None = None


class ModelFile(Record):
    """A model file on this machine, not registered yet."""

    path: str
    name: str
    size: int
    format: str  # gguf | llamafile
    folder: str


class DownloadProgress(Sparse):
    """How far a download is (`bytes` of `total`, `rate` in bytes per second)."""

    id: str
    bytes: int
    total: int | None
    rate: int
    eta_s: float | None
    # only once a try failed: which, of how many, when the next is, and why it failed
    retry: int | None = None
    retries: int | None = None
    next_attempt_s: float | None = None
    error: str | None = None


class Placement(Record):
    """Where llama.cpp put the model's layers, read from its log."""

    layers: int
    layers_on_gpu: int


class ServerState(Sparse):
    """A model's server: one this process runs (port, pid, the GPU plan and what came of
    it), or, in team mode, one another hub process runs (its `url` and `owner`)."""

    state: str  # starting | running | restarting | failed | stopped
    error: str | None
    port: int | None = None
    pid: int | None = None
    restarts: int | None = None
    device: str | None = None
    gpu_layers: int | None = None
    note: str | None = None
    placement: Placement | None = None
    url: str | None = None
    owner: str | None = None


class ModelRecord(Sparse):
    """One model as the API shows it; `state` merges what is on disk and what runs."""

    id: str
    name: str
    role: Role
    format: str
    source: str
    state: ModelState = Field(
        description="`restarting`: its server died and is being started again; requests "
        "wait for it."
    )
    error: str | None
    size: int | None
    sha256: str | None
    verified: bool
    context_length: int | None
    # a catalog model
    url: str | None = None
    license: str | None = None
    license_url: str | None = None
    description: str | None = None
    recommended: bool | None = None
    # a model with a row in the store (downloaded or registered)
    path: str | None = None
    updated_at: str | None = None
    # a remote server's model
    base_url: str | None = None
    model: str | None = None
    has_api_key: bool | None = None
    # an installed file with no published checksum; a download; a server
    note: str | None = None
    progress: DownloadProgress | None = None
    server: ServerState | None = None

    def lasting(self) -> dict[str, Any]:
        """The view without its transient parts (progress, the server's pid...): what the
        audit log keeps and `model.status` events carry."""
        return self.model_dump(mode="json", exclude={"progress", "server"})

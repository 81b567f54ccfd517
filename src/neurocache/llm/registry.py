"""The models the hub knows: catalog entries merged with their rows in the store, and what
a client sees of each."""

from __future__ import annotations

import os
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurocache.errors import InvalidInput
from neurocache.llm.records import (
    CatalogEntry,
    DownloadProgress,
    FileFacts,
    ModelRecord,
    Role,
    ServerState,
)
from neurocache.store.tables import Model
from neurocache.store.types import isoformat

if TYPE_CHECKING:  # read when a model is registered, not at start (~0.1 s)
    import gguf

# GGUF architectures that only embed.
EMBEDDING_ARCHITECTURES = {
    "bert",
    "nomic-bert",
    "nomic-bert-moe",
    "jina-bert-v2",
    "t5encoder",
    "modern-bert",
    "neo-bert",
}
LLAMAFILE_MAGIC = b"MZqFpD"  # an APE executable: a llamafile
GGUF_MAGIC = b"GGUF"


def row_from_catalog(entry: CatalogEntry, models_dir: Path) -> Model:
    return Model(
        id=entry.id,
        name=entry.name,
        role=entry.role,
        format=entry.format,
        source="catalog",
        path=str(models_dir / entry.file_name),
        url=entry.url,
        expected_sha256=entry.sha256 or None,
        size=entry.size,
        context_length=entry.context_length,
        state="absent",
        verified=False,
        meta={},
    )


def inspect_local_file(path: Path) -> FileFacts:
    """Format, role, name and context length of a local model file, from its header."""
    if not path.is_file():
        raise InvalidInput(f"no file at {path}")
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"{path} cannot be read by the hub")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(LLAMAFILE_MAGIC):
        if not holds_gguf(path):
            raise InvalidInput(
                f"{path} starts like a llamafile but holds no model (a llamafile "
                "is also a zip archive with a .gguf inside)"
            )
        return FileFacts(format="llamafile", role="chat", name=path.stem, context_length=None)
    if not head.startswith(GGUF_MAGIC):
        raise InvalidInput(f"{path} is neither a GGUF file nor a llamafile")
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
    except (ValueError, OSError, IndexError, KeyError) as exc:
        raise InvalidInput(
            f"{path.name} is not a complete GGUF model: it may be cut short or "
            "damaged; download it again",
            details={"path": str(path), "reason": str(exc)},
        ) from exc
    arch = _field(reader, "general.architecture") or "unknown"
    return FileFacts(
        format="gguf",
        role=_role(reader, arch),
        name=_field(reader, "general.name") or path.stem,
        context_length=_field(reader, f"{arch}.context_length"),
        architecture=arch,
    )


def holds_gguf(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith(".gguf") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _role(reader: gguf.GGUFReader, arch: str) -> Role:
    """A cross-encoder (rank pooling) reranks; an encoder embeds; the rest chat."""
    import gguf

    if _field(reader, f"{arch}.pooling_type") == int(gguf.PoolingType.RANK):
        return "rerank"
    return "embedding" if arch in EMBEDDING_ARCHITECTURES else "chat"


def _field(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.get_field(key)
    return None if field is None else field.contents()


def new_local_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def model_view(
    entry: CatalogEntry | None,
    row: Model | None,
    runtime: ServerState | None = None,
    progress: DownloadProgress | None = None,
) -> ModelRecord:
    """One model as the API shows it; `state` merges what is on disk and what runs. Each
    part gives only the fields it knows (the record leaves the others out)."""
    fields: dict[str, Any] = {"error": None}
    if entry is not None:
        fields |= _catalog_fields(entry)
    if row is not None:
        fields |= _row_fields(row, fields)
    if fields.get("sha256") and not fields.get("verified") and fields.get("state") == "installed":
        fields["note"] = "no published checksum: the hash received on first download is recorded"
    if progress is not None and fields.get("state") == "downloading":
        fields["progress"] = progress
    if runtime is not None and runtime.state != "stopped":
        fields |= {"state": runtime.state, "error": runtime.error or fields["error"]}
        fields["server"] = runtime
    return ModelRecord(**fields)


def _catalog_fields(entry: CatalogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "role": entry.role,
        "format": entry.format,
        "source": "catalog",
        "url": entry.url,
        "size": entry.size,
        "sha256": entry.sha256 or None,
        "license": entry.license,
        "license_url": entry.license_url,
        "context_length": entry.context_length,
        "description": entry.description,
        "recommended": entry.recommended,
        "state": "absent",
        "verified": False,
    }


def _row_fields(row: Model, catalog: dict[str, Any]) -> dict[str, Any]:
    """The row's fields, over the catalog's (`catalog`: those, or none)."""
    fields = {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "format": row.format,
        "source": row.source,
        "state": row.state,
        "error": row.error,
        "path": row.path if row.state == "installed" else None,
        "size": row.size or catalog.get("size"),
        "sha256": row.sha256 or row.expected_sha256,
        "verified": row.verified,
        "context_length": row.context_length or catalog.get("context_length"),
        "updated_at": isoformat(row.updated_at),
    }
    if row.source == "remote":  # someone else's server: running when it answers
        fields |= {
            "base_url": row.base_url,
            "model": row.remote_model,
            "has_api_key": bool(row.api_key),
            "state": "failed" if row.error else "running",
        }
    return fields

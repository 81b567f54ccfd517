"""The model catalog: a JSON file shipped in the package, replaceable by `catalog_path`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neurocache.errors import InvalidInput

SHIPPED_CATALOG = Path(__file__).with_name("catalog.json")


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
    name: str
    role: Literal["chat", "embedding", "rerank"]
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


class Catalog(BaseModel):
    version: int
    note: str = ""
    models: list[CatalogEntry]


def load_catalog(path: Path | None = None) -> dict[str, CatalogEntry]:
    """Entries by id; a broken catalog is an error that names the file, not a crash."""
    source = path or SHIPPED_CATALOG
    try:
        catalog = Catalog.model_validate(json.loads(source.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise InvalidInput(f"the model catalog {source} cannot be used: {exc}") from exc
    entries = {entry.id: entry for entry in catalog.models}
    if len(entries) != len(catalog.models):
        raise InvalidInput(f"the model catalog {source} lists an id twice")
    return entries

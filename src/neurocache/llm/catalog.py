"""The model catalog: a JSON file shipped in the package, replaceable by `catalog_path`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from neurocache.errors import InvalidInput
from neurocache.llm.records import CatalogEntry

SHIPPED_CATALOG = Path(__file__).with_name("catalog.json")


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

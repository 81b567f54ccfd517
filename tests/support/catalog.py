"""A model catalog file of the tests' own (the shipped one names real downloads)."""

from __future__ import annotations

import json
from pathlib import Path


def catalog_file(path: Path, *entries: dict) -> Path:
    base = {"role": "chat", "format": "gguf", "license": "MIT", "size": 1, "sha256": ""}
    path.write_text(json.dumps({"version": 1, "models": [{**base, **e} for e in entries]}))
    return path

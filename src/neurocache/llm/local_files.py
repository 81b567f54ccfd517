"""Model files already on this machine, for the UI's "Add a model you already have": a
browser cannot give the hub a file's path, so the hub says which files it can see.

Looked for: GGUF files and llamafiles (by their first bytes, not their names) in the
models dir and, for the machine's owner, in the usual download folders of people and of
other local-model apps. Bounded: a few levels deep, a few hundred files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from neurocache.llm.records import ModelFile
from neurocache.llm.registry import GGUF_MAGIC, LLAMAFILE_MAGIC

MAX_FILES = 200
MAX_LOOKED = 5000  # entries looked at, at most: a huge Downloads folder stays quick
MAX_DEPTH = 3
MIN_BYTES = 64_000  # a header alone, or a download cut short: no model
# where people and other local-model apps keep model files (relative to the home folder)
USUAL_PLACES = ("Downloads", "models", ".lmstudio/models", ".cache/lm-studio/models", "llamafile")


def usual_places(models_dir: Path, home: Path | None = None) -> list[Path]:
    """The models dir first, then the folders under `home` where model files usually are."""
    home = home or Path.home()
    return [models_dir, *(home / place for place in USUAL_PLACES)]


def model_files(
    folders: list[Path], known: set[str], min_bytes: int = MIN_BYTES
) -> list[ModelFile]:
    """Model files in `folders` not registered yet (`known`: registered paths), in the
    folders' order, each file once; at most `MAX_FILES`, after looking at `MAX_LOOKED`."""
    found: dict[str, ModelFile] = {}
    looked = 0
    for folder in folders:
        for path in _files_under(folder):
            looked += 1
            if len(found) >= MAX_FILES or looked > MAX_LOOKED:
                return list(found.values())
            file = _model_file(path, folder, min_bytes)
            if file is not None and file.path not in known:
                found.setdefault(file.path, file)
    return list(found.values())


def _model_file(path: Path, folder: Path, min_bytes: int) -> ModelFile | None:
    try:
        size = path.stat().st_size
        if size < min_bytes:
            return None
        with open(path, "rb") as handle:
            head = handle.read(8)
        resolved = str(path.resolve())
    except OSError:  # gone or unreadable since it was listed
        return None
    kind = "gguf" if head.startswith(GGUF_MAGIC) else None
    kind = kind or ("llamafile" if head.startswith(LLAMAFILE_MAGIC) else None)
    if kind is None:
        return None
    return ModelFile(path=resolved, name=path.stem, size=size, format=kind, folder=str(folder))


def _files_under(folder: Path, depth: int = 0) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:  # absent, unreadable: nothing there for us
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            yield entry
        elif entry.is_dir() and depth < MAX_DEPTH:
            yield from _files_under(entry, depth + 1)

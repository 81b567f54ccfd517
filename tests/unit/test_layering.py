"""The layers of the design (docs/DESIGN.md, "Parts"): every part of the package imports
only parts below it, Flask only in `web/` and the app factory, the store nothing but the
settings and errors. A new top-level part must be placed in LAYERS to pass."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "neurocache"

# Lowest first. A part may import its own modules and those of parts in earlier layers.
LAYERS: list[set[str]] = [
    {"__init__", "settings", "errors", "events", "threads", "records", "startup"},
    {"logging_setup", "store", "client"},
    {"access", "metering", "llm", "search", "plugins"},
    {"runtime"},
    {"operations"},
    {"replies", "knowledge"},
    {"agents", "conversations"},
    {"channels"},
    {"hub"},
    {"web"},
    {"app"},
    {"desktop", "cluster"},
    {"cli"},
    {"__main__"},
]
WEB_FRAMEWORKS = ("flask", "werkzeug", "flask_socketio", "engineio", "socketio")
MAY_USE_THE_WEB_FRAMEWORK = {"web", "app"}


def part_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules() -> list[Path]:
    return [f for f in SRC.rglob("*.py") if "migrations" not in f.parts]


def layer(part: str) -> int:
    found = [i for i, parts in enumerate(LAYERS) if part in parts]
    assert found, f"{part} is in no layer: place it in LAYERS (and DESIGN.md's parts)"
    return found[0]


def test_every_part_imports_only_parts_below_it():
    wrong = []
    for file in modules():
        own = part_of(file)
        for module in imports(file):
            if not module.startswith("neurocache."):
                continue
            other = module.split(".")[1]
            if other != own and layer(other) >= layer(own):
                wrong.append(f"{file.relative_to(SRC)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_only_the_web_layer_and_the_app_factory_import_the_web_framework():
    wrong = [
        f"{file.relative_to(SRC)} imports {module}"
        for file in modules()
        if part_of(file) not in MAY_USE_THE_WEB_FRAMEWORK
        for module in imports(file)
        if module.split(".")[0] in WEB_FRAMEWORKS
    ]
    assert not wrong, "\n".join(wrong)


def test_every_folder_of_the_package_is_a_part_with_a_docstring():
    for folder in (p for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        layer(folder.name)
        assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text())), folder


def test_the_store_imports_only_settings_and_errors_of_ours():
    # DESIGN.md: the store may import settings (and the package's version, for backups),
    # and the base of the services' records (the audit log keeps them)
    for file in (SRC / "store").rglob("*.py"):
        ours = {m for m in imports(file) if m.startswith("neurocache")}
        assert all(
            m == "neurocache"
            or m.startswith(
                (
                    "neurocache.store",
                    "neurocache.errors",
                    "neurocache.settings",
                    "neurocache.records",
                )
            )
            for m in ours
        ), file


def test_no_test_module_imports_another():
    """What tests share lives in conftest.py and tests/support/, never in a test module
    (a moved module broke an import made inside a test function once)."""
    tests = SRC.parents[1] / "tests"
    offending = [
        f"{path.relative_to(tests)}: {name}"
        for path in tests.rglob("test_*.py")
        for name in imports(path)
        if name.startswith(("tests.test_", "tests.api", "tests.e2e", "tests.unit"))
    ]
    assert offending == []


def test_faults_are_injected_through_public_seams():
    """A test that patches a private method breaks silently when it is renamed; the
    steps tests wrap (Knowledge.index_document, embed_and_store, FolderWatcher.scan_quietly,
    JobQueue.dispatch...) are public."""
    import re

    tests = SRC.parents[1] / "tests"
    private = re.compile(r"monkeypatch\.setattr\([^,]+,\s*\"_[a-z]")
    offending = [
        f"{path.relative_to(tests)}"
        for path in tests.rglob("test_*.py")
        if private.search(path.read_text())
    ]
    assert offending == []

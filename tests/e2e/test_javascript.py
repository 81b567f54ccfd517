"""The browser client's and the extension's own scripts parse (`node --check`): a syntax
error in a module the browser loads would otherwise show only as a blank page. Vendored
libraries are checked by their authors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(
    p
    for folder in (ROOT / "src/neurocache/client/browser", ROOT / "browser-extension/src")
    for p in folder.rglob("*.js")
    if "vendor" not in p.parts
)


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) > 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_script_parses_as_an_es_module(script, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (make test installs it)")
    module = tmp_path / (script.stem + ".mjs")  # .mjs: a module on every Node version
    shutil.copyfile(script, module)
    result = subprocess.run(
        [node, "--check", str(module)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_no_module_of_the_client_imports_its_entry_point():
    """main.js imports the views; a view importing main.js back made a cycle that loads
    in an order nobody chose."""
    client = ROOT / "src/neurocache/client/browser"
    importers = [
        p.relative_to(client)
        for p in client.rglob("*.js")
        if "vendor" not in p.parts and 'main.js"' in p.read_text() and "import" in p.read_text()
    ]
    assert importers == []

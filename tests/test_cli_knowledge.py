"""`neurocache ingest` and `neurocache search`, in-process and through a running hub."""

from __future__ import annotations

import json
import re

import pytest

from neurocache.cli import main
from neurocache.settings import Settings
from tests.conftest import start_live_hub


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub" / ".git").mkdir(parents=True)
    (root / "node_modules").mkdir()
    (root / "rivers.txt").write_text("The Danube flows through Vienna and Budapest.")
    (root / "sub" / "alps.md").write_text("# Alps\n\nThe Matterhorn stands above Zermatt.")
    (root / "sub" / ".git" / "notes.txt").write_text("not mine")
    (root / "node_modules" / "dep.txt").write_text("not mine either")
    (root / "movie.mp4").write_bytes(b"\x00\x00")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    return root


def test_ingest_then_search_in_process(runner, tmp_path, corpus):
    data = ["--data-dir", str(tmp_path / "d")]
    result = runner.invoke(main, ["ingest", str(corpus), *data])
    assert result.exit_code == 0, result.output
    assert re.search(r"Ingested 2 of 3 files \(\d+ chunks\) in [\d.]+ s \([\d.]+ files/s, "
                     r"[\d.]+ chunks/s\); 1 skipped, "
                     r"1 failed\.", result.output)
    assert "broken.pdf" in result.output and "cannot be read as a PDF" in result.output
    found = runner.invoke(main, ["search", "river through Hungary", *data])
    assert found.exit_code == 0
    assert found.output.splitlines()[0].startswith(" 1. rivers.txt [")
    as_json = json.loads(runner.invoke(main, ["search", "Zermatt", "--mode", "fulltext",
                                              "--json", *data]).output)
    assert as_json[0]["document"]["title"] == "alps.md"
    assert "Nothing found." in runner.invoke(main, ["search", "zzzz", "--mode", "fulltext",
                                                    *data]).output


def test_ingest_goes_through_a_running_hub(runner, tmp_path, corpus):
    settings = Settings(data_dir=tmp_path / "d")
    live = start_live_hub(settings)
    live.server.announce(settings.data_dir)
    try:
        live.hub.knowledge.create_collection("geo", "", actor=_actor())
        result = runner.invoke(main, ["ingest", str(corpus / "rivers.txt"), "--collection",
                                      "geo", "--data-dir", str(settings.data_dir)])
        assert result.exit_code == 0 and "Ingested 1 of 1 files" in result.output
        hits = live.hub.search.search("Danube", mode="fulltext")
        assert hits and hits[0]["document"]["path"].endswith("rivers.txt")
        found = runner.invoke(main, ["search", "Danube", "--collection", "geo",
                                     "--data-dir", str(settings.data_dir)])
        assert "rivers.txt" in found.output
        refused = runner.invoke(main, ["search", "x", "--collection", "nope",
                                       "--data-dir", str(settings.data_dir)])
        assert refused.exit_code == 1 and "no collection" in refused.output
    finally:
        live.server.stop()


def test_a_missing_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["ingest", str(tmp_path / "nope"), "--data-dir",
                                  str(tmp_path / "d")])
    assert result.exit_code == 2 and "neither a file nor a folder" in result.output


def _actor():
    from neurocache.store.audit import Actor

    return Actor("test")

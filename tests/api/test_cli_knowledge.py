"""`neurocache ingest` and `neurocache search`, in-process and through a running hub."""

from __future__ import annotations

import json
import re

import pytest

from neurocache.cli.main import main
from neurocache.hub import Hub
from neurocache.settings import Settings
from tests.support.hub import start_live_hub


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
    assert result.exit_code == 1, result.output  # a file failed: the command says so
    assert re.search(
        r"Ingested 2 of 2 new or changed files \(\d+ chunks\) in [\d.]+ s "
        r"\([\d.]+ chunks/s\): 2 new, 0 changed \(replaced\), 0 unchanged, "
        r"1 skipped, 1 failed \(of 3 files read\)\.",
        result.output,
    )
    assert "broken.pdf" in result.output and "cannot be read as a PDF" in result.output
    assert f"skipped (not a kind the hub reads): {corpus / 'movie.mp4'}" in result.output
    found = runner.invoke(main, ["search", "river through Hungary", *data])
    assert found.exit_code == 0
    assert found.output.splitlines()[0].startswith(" 1. rivers.txt [")
    as_json = json.loads(
        runner.invoke(main, ["search", "Zermatt", "--mode", "fulltext", "--json", *data]).output
    )
    assert as_json[0]["document"]["title"] == "alps.md"
    assert (
        "Nothing found."
        in runner.invoke(main, ["search", "zzzz", "--mode", "fulltext", *data]).output
    )


def test_ingest_goes_through_a_running_hub(runner, tmp_path, corpus):
    settings = Settings(data_dir=tmp_path / "d")
    live = start_live_hub(settings)
    live.server.announce(settings.data_dir)
    try:
        live.hub.knowledge.create_collection("geo", "", actor=_actor())
        result = runner.invoke(
            main,
            [
                "ingest",
                str(corpus / "rivers.txt"),
                "--collection",
                "geo",
                "--data-dir",
                str(settings.data_dir),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "Ingested 1 of 1 new or changed files" in result.output
        hits = live.hub.search.search("Danube", mode="fulltext")
        assert hits and hits[0].document.path.endswith("rivers.txt")
        found = runner.invoke(
            main, ["search", "Danube", "--collection", "geo", "--data-dir", str(settings.data_dir)]
        )
        assert "rivers.txt" in found.output
        refused = runner.invoke(
            main, ["search", "x", "--collection", "nope", "--data-dir", str(settings.data_dir)]
        )
        assert refused.exit_code == 1 and "no collection" in refused.output
    finally:
        live.server.stop()


def test_ingesting_again_makes_nothing_new_and_a_changed_file_replaces_its_old_version(
    runner, tmp_path, corpus
):
    (corpus / "broken.pdf").unlink()
    data = ["--data-dir", str(tmp_path / "d")]
    first = runner.invoke(main, ["ingest", str(corpus), *data])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["ingest", str(corpus), *data])
    assert again.exit_code == 0 and "0 new, 0 changed (replaced), 2 unchanged" in again.output
    (corpus / "rivers.txt").write_text("The Rhine flows through Basel.")
    changed = runner.invoke(main, ["ingest", str(corpus / "rivers.txt"), *data])
    assert "0 new, 1 changed (replaced), 0 unchanged" in changed.output, changed.output
    hub = Hub(Settings(data_dir=tmp_path / "d"))
    try:
        documents, _ = hub.knowledge.list_documents()
        assert sorted(d.title for d in documents) == ["alps.md", "rivers.txt"]
        assert hub.search.search("Danube", mode="fulltext") == []  # the old version is gone
        assert hub.search.search("Rhine", mode="fulltext")
    finally:
        hub.close()


def test_an_unknown_collection_stops_before_any_file_is_read(runner, tmp_path, corpus):
    result = runner.invoke(
        main, ["ingest", str(corpus), "--collection", "nope", "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 1 and "no collection 'nope'" in result.output
    assert "Reading" not in result.output


def test_a_missing_path_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(
        main, ["ingest", str(tmp_path / "nope"), "--data-dir", str(tmp_path / "d")]
    )
    assert result.exit_code == 2 and "neither a file nor a folder" in result.output


def _actor():
    from neurocache.store.audit import Actor

    return Actor("test")

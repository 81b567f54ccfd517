"""The pure parts of Memory Cache compatibility: model states in its words, its sizes, its
file names, and project names made unique."""

from __future__ import annotations

import pytest

from neurocache.knowledge.projects import NAME_LIMIT, file_name, numbered_name
from neurocache.llm.llamafiles import human_size, llamafile_info, llamafile_status
from neurocache.llm.records import DownloadProgress, ModelRecord


def model(**fields):
    """A model view with only what a test sets (the rest: a catalog model's defaults)."""
    base = {
        "id": "m",
        "name": "M",
        "role": "chat",
        "format": "gguf",
        "source": "catalog",
        "state": "absent",
        "error": None,
        "size": None,
        "sha256": None,
        "verified": False,
        "context_length": None,
    }
    return ModelRecord(**(base | fields))


@pytest.mark.parametrize(
    ("state", "status", "progress"),
    [
        ("absent", "absent", 0),
        ("installed", "idle", 100),
        ("starting", "running", 100),
        ("running", "running", 100),
        ("restarting", "running", 100),
        ("failed", "error", 0),
    ],
)
def test_each_model_state_in_memory_caches_words(state, status, progress):
    answer = llamafile_status(model(state=state))
    assert (answer.status, answer.progress) == (status, progress)
    assert answer.message and answer.content_length is None and answer.written is None


def test_a_state_it_does_not_know_reads_as_an_error():
    newer = model().model_copy(update={"state": "something new"})  # as a newer hub's
    answer = llamafile_status(newer)
    assert (answer.status, answer.progress) == ("error", 0)


def test_a_failed_model_says_why():
    assert llamafile_status(model(state="failed", error="bad hash")).message == "bad hash"


def test_a_download_reports_its_percentage_and_bytes():
    progress = DownloadProgress(id="m", bytes=250, total=1000, rate=0, eta_s=None)
    answer = llamafile_status(model(state="downloading", size=1000, progress=progress))
    assert (answer.progress, answer.content_length, answer.written) == (25, 1000, 250)
    queued = llamafile_status(model(state="downloading"))
    assert (queued.status, queued.progress, queued.written) == ("downloading", 0, 0)


def test_sizes_and_catalog_entries_read_as_memory_caches():
    assert human_size(3_970_000_000) == "3.97 GB"
    assert human_size(400_000_000) == "400.0 MB"
    assert human_size(None) == "unknown size"
    info = llamafile_info(model(size=2 * 10**9))
    assert info.plain() == {
        "model": "M",
        "size": "2.00 GB",
        "license": "",
        "license_url": "",
        "filename": "m",
        "url": "",
    }


def test_file_names_show_their_path_in_memory_caches_client():
    name = file_name("Notes", "/home/me/a.md")
    assert name == "Notes/uploads/__home__me__a.md"
    assert "/".join(name.split("__")[1:]) == "home/me/a.md"  # its getOriginalFilePath
    assert file_name("Notes", "Pasted text") == "Notes/uploads/__Pasted text"


def test_numbered_names_stay_within_a_collections_name():
    assert numbered_name("Squid", 1) == "Squid"
    assert numbered_name("Squid", 2) == "Squid (2)"
    long = numbered_name("x" * NAME_LIMIT, 12)
    assert len(long) == NAME_LIMIT and long.endswith(" (12)")

"""Downloads against a misbehaving file server on loopback (no other network is used)."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from neurocache.llm.downloader import (
    NET_CHUNK,
    Download,
    DownloadCancelled,
    DownloadError,
    DownloadOptions,
    part_path,
)
from tests.support.file_server import FileServer

DATA = os.urandom(3 * 1024 * 1024 + 123)
SHA = hashlib.sha256(DATA).hexdigest()
FAST = DownloadOptions(retries=3, read_timeout_s=1.0, progress_interval_s=0.0)


@pytest.fixture
def server():
    files = FileServer()
    yield files
    files.close()


def download(url, dest, **kwargs):
    kwargs.setdefault("options", FAST)
    kwargs.setdefault("sleep", lambda _s: None)
    return Download(url, dest, **kwargs)


def test_a_clean_download_is_verified_and_renamed(server, tmp_path):
    url = server.serve("/m.gguf", DATA)
    progress = []
    result = download(
        url, tmp_path / "m.gguf", expected_sha256=SHA, on_progress=progress.append
    ).run()
    assert (result.size, result.sha256, result.verified) == (len(DATA), SHA, True)
    assert (tmp_path / "m.gguf").read_bytes() == DATA
    assert not part_path(tmp_path / "m.gguf").exists()
    assert progress[-1].done == progress[-1].total == len(DATA)
    assert all(p.rate > 0 for p in progress)


def test_a_broken_transfer_resumes_with_range(server, tmp_path):
    url = server.serve("/m.gguf", DATA, break_after=1_000_000, breaks=2)
    result = download(url, tmp_path / "m.gguf", expected_sha256=SHA).run()
    assert result.verified and (tmp_path / "m.gguf").read_bytes() == DATA
    ranges = [r["range"] for r in server.files["/m.gguf"].requests]
    assert ranges[0] is None and len(ranges) == 3
    # Each retry continues where the last one broke (less at most one network read).
    resumed = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 1_000_000 - NET_CHUNK < resumed[0] <= 1_000_000
    assert resumed[0] + 1_000_000 - NET_CHUNK < resumed[1] <= resumed[0] + 1_000_000


def test_a_server_that_ignores_range_gets_a_fresh_start(server, tmp_path):
    url = server.serve("/m.gguf", DATA, ignore_range=True, break_after=500_000, breaks=1)
    result = download(url, tmp_path / "m.gguf", expected_sha256=SHA).run()
    assert result.verified and (tmp_path / "m.gguf").read_bytes() == DATA


def test_resume_survives_a_restart_of_the_process(server, tmp_path):
    """A .part left by an earlier run (the hub was killed) is continued, not restarted."""
    dest = tmp_path / "m.gguf"
    part_path(dest).write_bytes(DATA[:2_000_000])
    url = server.serve("/m.gguf", DATA)
    assert download(url, dest, expected_sha256=SHA).run().verified
    assert server.files["/m.gguf"].requests[0]["range"] == "bytes=2000000-"


def test_a_complete_part_is_just_verified(server, tmp_path):
    dest = tmp_path / "m.gguf"
    part_path(dest).write_bytes(DATA)
    url = server.serve("/m.gguf", DATA)
    assert download(url, dest, expected_sha256=SHA).run().verified


def test_a_wrong_checksum_fails_and_leaves_nothing(server, tmp_path):
    url = server.serve("/m.gguf", DATA)
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(url, tmp_path / "m.gguf", expected_sha256="0" * 64).run()
    assert list(tmp_path.iterdir()) == []


def test_without_a_checksum_the_received_hash_is_recorded_unverified(server, tmp_path):
    url = server.serve("/m.gguf", DATA)
    result = download(url, tmp_path / "m.gguf").run()
    assert (result.sha256, result.verified) == (SHA, False)


def test_404_fails_at_once(server, tmp_path):
    url = server.serve("/gone", DATA, status=404)
    with pytest.raises(DownloadError, match="404"):
        download(url, tmp_path / "m.gguf").run()
    assert len(server.files["/gone"].requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_server_errors_are_retried_with_backoff(server, tmp_path):
    waits = []
    url = server.serve("/m.gguf", DATA, fail_first=2)
    result = download(url, tmp_path / "m.gguf", sleep=waits.append).run()
    assert result.size == len(DATA) and waits == [1, 2]


def test_retries_are_bounded(server, tmp_path):
    url = server.serve("/m.gguf", DATA, status=503)
    with pytest.raises(DownloadError, match="gave up after 4 tries"):
        download(url, tmp_path / "m.gguf").run()


def test_a_stalled_transfer_times_out_and_resumes(server, tmp_path):
    url = server.serve("/m.gguf", DATA, stall_after=1_048_576, stall_s=3)
    result = download(url, tmp_path / "m.gguf", expected_sha256=SHA).run()
    assert result.verified
    assert server.files["/m.gguf"].requests[1]["range"].startswith("bytes=")


def test_an_unreachable_server_is_retried_then_fails(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download("http://127.0.0.1:9/m.gguf", tmp_path / "m.gguf").run()


def test_not_enough_disk_space_fails_before_writing(server, tmp_path):
    url = server.serve("/m.gguf", DATA)
    options = DownloadOptions(disk_margin=10**18)
    with pytest.raises(DownloadError, match="not enough disk space"):
        download(url, tmp_path / "m.gguf", options=options).run()
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_and_discards_or_keeps_the_part(server, tmp_path):
    url = server.serve("/slow.gguf", DATA, rate_bytes_per_s=2_000_000)
    for discard in (True, False):
        dest = tmp_path / f"slow-{discard}.gguf"
        job = download(url, dest)
        started = threading.Event()
        job.on_progress = lambda p, started=started: p.done > 300_000 and started.set()
        outcome = []

        def run(job=job, outcome=outcome):
            try:
                job.run()
            except DownloadCancelled as exc:
                outcome.append(exc)

        runner = threading.Thread(target=run)
        runner.start()
        assert started.wait(10)
        job.cancel(discard=discard)
        runner.join(10)
        assert outcome and not dest.exists()
        assert part_path(dest).exists() is (not discard)


def closed_port() -> int:
    import socket

    with socket.socket() as sock:  # bound, then closed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_route_to_the_server_is_said_at_once_each_try_then_in_one_sentence(tmp_path):
    events: list[tuple[str, object]] = []
    url = f"http://127.0.0.1:{closed_port()}/model.gguf"
    job = download(
        url,
        tmp_path / "m.gguf",
        options=DownloadOptions(retries=2),
        sleep=lambda s: events.append(("sleep", s)),
        on_progress=lambda p: events.append(("progress", p)),
    )
    with pytest.raises(DownloadError) as failed:
        job.run()
    # each failed try is announced before its wait: the count and the next attempt
    kinds = [kind for kind, _ in events]
    assert kinds == ["progress", "sleep", "progress", "sleep"]
    first = events[0][1]
    assert (first.retry, first.retries, first.next_attempt_s) == (1, 2, 1)
    assert first.error == "cannot reach 127.0.0.1: the connection was refused"
    message = str(failed.value)
    assert message == "cannot reach 127.0.0.1: the connection was refused (gave up after 3 tries)"
    assert "urllib3" not in message and "HTTPConnectionPool" not in message


@pytest.mark.parametrize(
    ("raised", "said"),
    [
        (
            "Failed to resolve 'huggingface.co' ([Errno -3] Temporary failure in name resolution)",
            "cannot reach huggingface.co: no network connection (its name cannot be looked up)",
        ),
        (
            "[Errno 101] Network is unreachable",
            "cannot reach huggingface.co: no network connection",
        ),
    ],
)
def test_an_offline_machine_is_named_as_such(raised, said):
    """There is no internet here to be offline from: the errors requests raises are made."""
    import requests

    from neurocache.llm.downloader import network_reason

    error = requests.ConnectionError(f"HTTPSConnectionPool(host='huggingface.co'): {raised}")
    assert network_reason("https://huggingface.co/x/model.gguf", error) == said

"""Resumable, verified downloads.

A file is written to `<name>.part`, resumed with HTTP `Range` after a broken connection or
a restart (from scratch when the server ignores `Range`), checked against its SHA-256, and
only then renamed to its final name: a partial or unverified file never carries the name
of a model.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:  # the type of hashlib's hash objects
    from _hashlib import HASH

# Read from the network in 256 KiB pieces: a broken connection loses at most one piece
# (smaller pieces cost throughput: 64 KiB ran at 0.33 of a raw GET, 256 KiB at 0.41).
NET_CHUNK = 256 * 1024
CHUNK = 4 * 1024 * 1024
# Room left on the disk after a download, so that finishing one never fills it.
DISK_MARGIN = 256 * 1024 * 1024
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(Exception):
    """A download that cannot succeed by retrying (404, checksum, disk, ...)."""


class DownloadCancelled(Exception):
    pass


class TransientError(Exception):
    """Worth another try: a broken connection, a timeout, a 5xx."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    rate: float  # bytes per second over the current attempt
    eta_s: float | None
    retry: int = 0  # the tries that failed so far (0: none)
    retries: int = 0  # how many it may take
    next_attempt_s: float | None = None  # when it tries again, after a failure
    error: str | None = None  # why the last try failed, in one sentence


def network_reason(url: str, exc: requests.RequestException) -> str:
    """One sentence for a person, not urllib3's chain: which host, and what went wrong."""
    host = urlsplit(url).hostname or url
    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"cannot reach {host}: it did not answer in time (a slow or blocked network)"
    if isinstance(exc, requests.Timeout):
        return f"{host} stopped sending (no data for a while)"
    if isinstance(exc, requests.ConnectionError):
        if any(
            mark in text
            for mark in (
                "NameResolutionError",
                "Name or service not known",
                "Temporary failure in name resolution",
                "nodename nor servname",
                "getaddrinfo failed",
            )
        ):
            return f"cannot reach {host}: no network connection (its name cannot be looked up)"
        if "Connection refused" in text:
            return f"cannot reach {host}: the connection was refused"
        if "Network is unreachable" in text or "No route to host" in text:
            return f"cannot reach {host}: no network connection"
        return f"cannot reach {host}: the connection failed"
    return f"the download from {host} failed: {type(exc).__name__}"


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    verified: bool  # False: no expected hash was known; `sha256` is what was received


@dataclass
class DownloadOptions:
    retries: int = 5
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0  # a stalled transfer is retried after this long
    progress_interval_s: float = 0.25
    max_backoff_s: float = 30.0
    disk_margin: int = DISK_MARGIN


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


class Download:
    """One file from one URL. `run()` blocks; `cancel()` may be called from any thread."""

    def __init__(
        self,
        url: str,
        dest: Path,
        *,
        expected_sha256: str | None = None,
        size_hint: int | None = None,
        options: DownloadOptions | None = None,
        on_progress: Callable[[Progress], None] = lambda _p: None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url
        self.dest = dest
        self.part = part_path(dest)
        self.expected_sha256 = (expected_sha256 or "").lower() or None
        self.size_hint = size_hint
        self.options = options or DownloadOptions()
        self.on_progress = on_progress
        self.session = session or requests.Session()
        self._cancelled = threading.Event()
        self._digest: hashlib._Hash | None = None  # of the .part, kept current while receiving
        self._discard = True
        self._sleep = sleep or self._cancellable_sleep

    def cancel(self, *, discard: bool = True) -> None:
        """Stop; `discard=False` keeps the .part to resume later (the hub shutting down)."""
        self._discard = discard
        self._cancelled.set()

    @property
    def discarded(self) -> bool:
        """Cancelled for good (not paused for a restart)."""
        return self._cancelled.is_set() and self._discard

    def raise_if_cancelled(self) -> None:
        self._check_cancelled()

    def run(self) -> DownloadResult:
        try:
            return self._run()
        except DownloadCancelled:
            if self._discard:
                self.part.unlink(missing_ok=True)
            raise

    def _run(self) -> DownloadResult:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        failures = 0
        while True:
            self._check_cancelled()
            try:
                total = self._attempt()
                return self._finish(total)
            except TransientError as exc:
                failures += 1
                if failures > self.options.retries:
                    raise DownloadError(f"{exc} (gave up after {failures} tries)") from exc
                wait = min(2 ** (failures - 1), self.options.max_backoff_s)
                self._announce_retry(failures, wait, str(exc))
                self._sleep(wait)

    def _announce_retry(self, failures: int, wait: float, reason: str) -> None:
        """Said the moment a try fails, not after the last: which try, when the next."""
        have = self.part.stat().st_size if self.part.exists() else 0
        self.on_progress(
            Progress(
                have,
                self.size_hint,
                0.0,
                None,
                retry=failures,
                retries=self.options.retries,
                next_attempt_s=wait,
                error=reason,
            )
        )

    def _attempt(self) -> int | None:
        """Fetch what is missing into the .part file; returns the total size if known."""
        have = self.part.stat().st_size if self.part.exists() else 0
        self._digest = None
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = self.session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=(self.options.connect_timeout_s, self.options.read_timeout_s),
            )
        except requests.RequestException as exc:
            raise TransientError(network_reason(self.url, exc)) from exc
        with response:
            total, start = self._where_to_start(response, have)
            if total is None and start == have and response.status_code == 416:
                return have  # the .part was already complete
            self._check_space(total, start)
            self._receive(response, start, total)
        return total

    def _where_to_start(self, response: requests.Response, have: int) -> tuple[int | None, int]:
        status = response.status_code
        if status == 206:
            match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == have:
                total = None if match.group(3) == "*" else int(match.group(3))
                return total, have
            return self._restart(response)  # a range we did not ask for: start over
        if status == 200:
            length = response.headers.get("Content-Length")
            return (int(length) if length else None), 0  # Range ignored or not asked
        if status == 416 and have:
            return None, have
        if status in (408, 425, 429) or status >= 500:
            raise TransientError(f"the server answered {status}")
        raise DownloadError(f"the server answered {status} for {self.url}")

    def _restart(self, response: requests.Response) -> tuple[int | None, int]:
        self.part.unlink(missing_ok=True)
        raise TransientError("the server sent a range that does not continue the file")

    def _check_space(self, total: int | None, start: int) -> None:
        needed = (total or self.size_hint or 0) - start
        free = shutil.disk_usage(self.part.parent).free
        if needed > 0 and needed + self.options.disk_margin > free:
            raise DownloadError(
                f"not enough disk space in {self.part.parent}: {needed} bytes needed, "
                f"{free} free (keeping {self.options.disk_margin} spare)"
            )

    def _receive(self, response: requests.Response, start: int, total: int | None) -> None:
        # Hash as the bytes arrive (after re-reading what an earlier attempt left), so
        # the file is never read again just to verify it.
        self._digest = sha256_prefix(self.part, start, self._check_cancelled)
        mode = "ab" if start else "wb"
        done, began, last_report = start, time.monotonic(), 0.0
        try:
            with open(self.part, mode) as out:
                for chunk in response.iter_content(NET_CHUNK):
                    self._check_cancelled()
                    out.write(chunk)
                    self._digest.update(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if now - last_report >= self.options.progress_interval_s:
                        last_report = now
                        self._report(done, total, (done - start) / max(now - began, 1e-6))
                out.flush()
                os.fsync(out.fileno())
        except requests.RequestException as exc:
            raise TransientError(
                f"the transfer broke at {done} bytes: {network_reason(self.url, exc)}"
            ) from exc
        if total is not None and done < total:
            raise TransientError(f"the server closed the transfer at {done} of {total} bytes")
        self._report(done, total, (done - start) / max(time.monotonic() - began, 1e-6))

    def _report(self, done: int, total: int | None, rate: float) -> None:
        eta = (total - done) / rate if total is not None and rate > 0 else None
        self.on_progress(Progress(done, total, rate, eta))

    def _finish(self, total: int | None) -> DownloadResult:
        size = self.part.stat().st_size
        if total is not None and size != total:
            self.part.unlink(missing_ok=True)
            raise TransientError(f"received {size} bytes where {total} were announced")
        digest = (
            self._digest.hexdigest()
            if self._digest is not None
            else sha256_of(self.part, self._check_cancelled)
        )
        if self.expected_sha256 and digest != self.expected_sha256:
            self.part.unlink(missing_ok=True)
            raise DownloadError(
                f"checksum mismatch: expected {self.expected_sha256}, received {digest}; "
                "the partial file was deleted"
            )
        os.replace(self.part, self.dest)
        return DownloadResult(self.dest, size, digest, verified=self.expected_sha256 is not None)

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise DownloadCancelled(self.url)

    def _cancellable_sleep(self, seconds: float) -> None:
        if self._cancelled.wait(seconds):
            raise DownloadCancelled(self.url)


def sha256_of(path: Path, between_chunks: Callable[[], None] = lambda: None) -> str:
    return sha256_prefix(path, path.stat().st_size, between_chunks).hexdigest()


def sha256_prefix(
    path: Path, length: int, between_chunks: Callable[[], None] = lambda: None
) -> HASH:
    """A running SHA-256 of the first `length` bytes of a file."""
    digest = hashlib.sha256()
    if length:
        with open(path, "rb") as handle:
            while length > 0 and (chunk := handle.read(min(CHUNK, length))):
                between_chunks()
                digest.update(chunk)
                length -= len(chunk)
    return digest

"""Scheduled backups while the hub runs: every `backup_interval_h` hours into `backup_dir`,
keeping the newest `backup_keep` of the files this schedule made (others are never
touched). The schedule survives restarts: the next backup is due one interval after the
newest one on disk, so a hub that never runs a whole interval at a time still gets them."""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

from neurocache.events import Publish, publish_nowhere
from neurocache.operations.backup import BackupUnsupported, check_backup_tools, create_backup
from neurocache.runtime.periodic_claims import OwnTurns
from neurocache.settings import Settings, ensure_private_dir
from neurocache.threads import Threads

log = logging.getLogger("neurocache.store")
PREFIX = "neurocache-scheduled"
# Microseconds in the name: names sort by time, and two backups never share a name.
NAME = re.compile(rf"{PREFIX}-(\d{{8}}T\d{{6}}\.\d{{6}}Z)\.tar\.gz")
STAMP = "%Y%m%dT%H%M%S.%fZ"
FIRST_DELAY_S = 600.0  # the first backup ever waits a little: start-up has work enough
RETRY_S = 600.0  # after a failure, tried again this soon (or at the interval, if shorter)


def scheduled_name(moment: datetime) -> str:
    return f"{PREFIX}-{moment.astimezone(UTC):{STAMP}}.tar.gz"


class ScheduledBackups:
    def __init__(
        self,
        settings: Settings,
        publish: Publish = publish_nowhere,
        threads: Threads | None = None,
        claims: OwnTurns | None = None,
    ) -> None:
        self.settings = settings
        self.threads = threads or Threads()
        # processes sharing a store take turns: one backup per interval among them
        self.claims = claims or OwnTurns()
        self.folder = settings.effective_backup_dir
        self.interval_s = settings.backup_interval_h * 3600
        self.keep = settings.backup_keep
        # publish: backup.starting, before the files are copied (the search index saves
        # itself then: less to top up after a restore); subscribers run on this thread
        self.publish = publish
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: datetime | None = None) -> Path:
        """One backup now, then the old ones pruned; the new file's path."""
        self.publish("backup.starting", {}, None)
        path = ensure_private_dir(self.folder) / scheduled_name(now or datetime.now(UTC))
        create_backup(self.settings, path)
        self.prune()
        return path

    def backups(self) -> list[Path]:
        """This schedule's backups, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if NAME.fullmatch(p.name))

    def prune(self) -> list[Path]:
        """Deletes all but the newest `keep`; what it deleted."""
        old = self.backups()[: -self.keep]
        for path in old:
            path.unlink(missing_ok=True)
        return old

    def due_in(self, now: datetime | None = None) -> float:
        """Seconds until the next backup: an interval after the newest one."""
        newest = self.backups()[-1:]
        if not newest:
            return min(self.interval_s, FIRST_DELAY_S)
        named = NAME.fullmatch(newest[0].name)
        assert named is not None  # backups() lists only the names that match
        taken = datetime.strptime(named[1], STAMP).replace(tzinfo=UTC)
        elapsed = ((now or datetime.now(UTC)) - taken).total_seconds()
        return max(0.0, min(self.interval_s - elapsed, self.interval_s))

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = self.threads.start("backups", self._loop)

    def _supported(self) -> bool:
        try:
            check_backup_tools(self.settings)
        except BackupUnsupported as exc:
            log.warning("scheduled backups are off: %s", exc.message)
            return False
        return True

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)  # a backup under way finishes (its file is whole)

    def _loop(self) -> None:
        if not self._supported():  # here, not in start: finding pg_dump runs programs
            return
        wait = self.due_in()
        while not self._stop.wait(self.claims.wake_s(wait)):
            with self.claims.turn("backups", self.interval_s) as mine:
                wait = self._run_logged() if mine else self.due_in()

    def _run_logged(self) -> float:
        """One scheduled backup, logged; how long until the next."""
        try:
            path = self.run_once()
            log.info("scheduled backup written: %s", path)
            return self.due_in()
        except Exception:
            wait = min(self.interval_s, RETRY_S)
            log.exception("scheduled backup failed; next try in %.0f s", wait)
            return wait

"""`neurocache backup [FILE]` and `neurocache restore FILE`: a consistent snapshot of a data
dir and its store, taken while its hubs run, and its restoration into an empty or new data
dir (and, for a PostgreSQL store, an empty database: `--database-url`)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from neurocache.errors import NeurocacheError
from neurocache.operations.backup import backed_up_store, create_backup, default_name
from neurocache.operations.records import BackupManifest, BackupModel
from neurocache.operations.restore import restore_backup
from neurocache.settings import CONFIG_FILE_NAME, Settings


def register(main: click.Group, settings_options: Any, settings_from: Any) -> None:
    @main.command()
    @click.argument("file", required=False, type=click.Path(path_type=Path))
    @settings_options
    def backup(file: Path | None, **kwargs: Any) -> None:
        """Write a consistent backup of the data dir to FILE (a .tar.gz; default:
        neurocache-backup-<UTC time>.tar.gz here; a folder: that name in it)."""
        settings, _ = settings_from(kwargs)
        target = backup_target(file)
        try:
            manifest = create_backup(settings, target)
        except (NeurocacheError, OSError) as exc:
            raise click.ClickException(_message(exc)) from exc
        click.echo(
            f"Backed up {_summary(manifest)} to {target.absolute()} "
            f"({_size(target.stat().st_size)})."
        )

    @main.command()
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @settings_options
    def restore(file: Path, **kwargs: Any) -> None:
        """Restore the backup FILE into an empty or new data dir (--data-dir DIR); a
        PostgreSQL store's backup also into an empty database (--database-url URL)."""
        settings, _ = settings_from(kwargs)
        database_url = _restore_target(settings)
        try:
            manifest = restore_backup(file, settings.data_dir, database_url)
        except (NeurocacheError, OSError) as exc:
            raise click.ClickException(_message(exc)) from exc
        into = f" and {_shown(database_url)}" if database_url else ""
        click.echo(
            f"Restored {_summary(manifest)} into {settings.data_dir}{into} "
            f"(backup of {manifest.created_at})."
        )
        _report_models(manifest.models)
        store = f" --database-url {_shown(database_url)}" if database_url else ""
        click.echo(
            "API keys keep working; the owner's login link is new: "
            f"`neurocache serve --data-dir {settings.data_dir}{store}` prints it."
        )
        if database_url:
            _warn_of_the_old_store(settings.data_dir, database_url)


def backup_target(file: Path | None) -> Path:
    if file is None:
        return Path.cwd() / default_name()
    return file / default_name() if file.is_dir() else file


def _restore_target(settings: Settings) -> str | None:
    """The PostgreSQL database to restore into, or None for the data dir's SQLite store
    (a SQLite store elsewhere is refused: a restore writes it into the data dir)."""
    try:
        store = backed_up_store(settings)
    except NeurocacheError as exc:
        raise click.ClickException(exc.message) from exc
    if isinstance(store, str):
        return store
    if store != settings.data_dir / "neurocache.db":
        raise click.ClickException(
            f"the store is set to {store}, outside the data dir: "
            "unset database_url to restore into a data dir"
        )
    return None


def _warn_of_the_old_store(data_dir: Path, database_url: str) -> None:
    """A restored config.toml may still name the backed-up store: say so, since a hub
    started with only this data dir would use that store and not the restored one."""
    try:
        named = tomllib.loads((data_dir / CONFIG_FILE_NAME).read_text()).get("database_url")
    except (OSError, tomllib.TOMLDecodeError):
        return
    if isinstance(named, str) and named != database_url:
        click.echo(
            f"Note: {data_dir / CONFIG_FILE_NAME} sets database_url to {_shown(named)}, the "
            "backed-up store: pass --database-url (or edit that line) to use the restored one."
        )


def _shown(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def _report_models(models: list[BackupModel]) -> None:
    """Model files are not in backups: say which the restored hub lacks."""
    missing = [m for m in models if m.path and not Path(m.path).is_file()]
    for model in missing:
        click.echo(
            f"  model {model.id}: its file {model.path} is not here; "
            "download it again (`neurocache models pull`) or add it (`models add`)"
        )


def _summary(manifest: BackupManifest) -> str:
    parts = [
        f"{manifest.counts.get(table, 0)} {name}"
        for table, name in (
            ("memories", "memories"),
            ("documents", "documents"),
            ("collections", "collections"),
            ("conversations", "conversations"),
            ("agents", "agents"),
            ("channels", "channels"),
        )
    ]
    return ", ".join(parts) + f", {len(manifest.models)} models"


def _size(size: float) -> str:
    for unit in ("bytes", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, NeurocacheError) else str(exc)

"""The `neurocache` command. Every command takes every setting as a flag."""

from __future__ import annotations

import errno
import json
import signal
import sys
import threading
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from neurocache import __version__
from neurocache.access.keys import SCOPES
from neurocache.access.owner_token import TOKEN_FILE
from neurocache.cli import bundles, chat, cluster, knowledge, mcp, models, ops
from neurocache.errors import NeurocacheError
from neurocache.records import plain
from neurocache.settings import (
    ENV_PREFIX,
    RUNTIME_FILE,
    Settings,
    load_settings,
    setting_sources,
)
from neurocache.startup import quick_start
from neurocache.store.audit import Actor

if TYPE_CHECKING:
    from neurocache.hub import Hub

CLI_ACTOR = Actor("cli")


def _option_for(name: str, field: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option for one settings field, typed after its annotation."""
    flag = "--" + name.replace("_", "-")
    help_text = f"{field.description} [env: {ENV_PREFIX}{name.upper()}]"
    annotation = field.annotation
    if isinstance(annotation, types.UnionType):  # `X | None`: the flag takes an X
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    args = typing.get_args(annotation)
    if annotation is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", name, default=None, help=help_text)
    if typing.get_origin(annotation) is list or list in (typing.get_origin(a) for a in args):
        return click.option(flag, name, multiple=True, default=None, help=help_text)
    if typing.get_origin(annotation) is typing.Literal:
        return click.option(flag, name, type=click.Choice(args), default=None, help=help_text)
    if annotation in (int, float):
        return click.option(flag, name, type=annotation, default=None, help=help_text)
    if annotation is Path:
        return click.option(
            flag, name, type=click.Path(path_type=Path), default=None, help=help_text
        )
    if annotation is str:
        return click.option(flag, name, type=str, default=None, help=help_text)
    raise TypeError(f"no CLI flag type for setting {name}: {annotation}")  # pragma: no cover


SHOWN_SETTINGS = frozenset({"data_dir"})  # the one every command's --help shows


class SettingsCommand(click.Command):
    """A command whose --help shows its own options first, and the hub's settings (flags
    of every command) only with --help-all, in a section of their own."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        show_all = ctx.meta.get("help_all", False)
        own: list[tuple[str, str]] = []
        hub: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if not isinstance(param, click.Option):
                continue  # arguments are in the usage line
            record = (
                param.get_help_record(ctx)
                if show_all
                or not getattr(param, "hub_setting", False)
                or param.name in SHOWN_SETTINGS
                else None
            )
            if record is not None:
                (hub if getattr(param, "hub_setting", False) else own).append(record)
        with formatter.section("Options"):
            formatter.write_dl(own)
        if hub:
            with formatter.section(
                "Hub settings (each also NEUROCACHE_<NAME> or config.toml; all with --help-all)"
                if not show_all
                else "Hub settings"
            ):
                formatter.write_dl(hub)


class HubGroup(click.Group):
    command_class = SettingsCommand
    group_class = type  # subgroups are HubGroups too


def _help_all(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    ctx.meta["help_all"] = True
    click.echo(ctx.get_help(), color=ctx.color)
    ctx.exit()


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for name, field in reversed(Settings.model_fields.items()):
        command = _option_for(name, field)(command)
        option = command.__click_params__[-1]  # type: ignore[attr-defined]
        option.hub_setting = True
        option.hidden = False
    return click.option(
        "--help-all",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_help_all,
        help=f"Show this help with all {len(Settings.model_fields)} hub settings.",
    )(command)


def split_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the settings flags out of a command's arguments; unset ones are dropped."""
    flags = {}
    for name in Settings.model_fields:
        value = kwargs.pop(name, None)
        if value not in (None, ()):
            flags[name] = list(value) if isinstance(value, tuple) else value
    return flags


def settings_from(kwargs: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    flags = split_flags(kwargs)
    try:
        return load_settings(flags), flags
    except (ValueError, NeurocacheError) as exc:
        raise click.UsageError(f"invalid settings: {exc}") from exc


@click.group(cls=HubGroup, invoke_without_command=True)
@click.version_option(__version__, prog_name="neurocache")
@click.pass_context
def main(context: click.Context) -> None:
    """Neurocache: a local-first memory hub."""
    if context.invoked_subcommand is None:
        if getattr(sys, "frozen", False):  # the binary, double-clicked: its window
            context.invoke(desktop)
        else:
            click.echo(context.get_help())


@main.command()
@settings_options
def desktop(**kwargs: Any) -> None:
    """The hub in a desktop window (the system browser where no window can be shown);
    closing it stops the hub. A second launch brings the first window forward."""
    with quick_start():
        from neurocache import desktop as shell

    settings, _ = settings_from(kwargs)
    sys.exit(shell.run(settings, say=click.echo))


@main.command()
@settings_options
def serve(**kwargs: Any) -> None:
    """Run the hub in the foreground until Ctrl-C or SIGTERM."""
    from filelock import Timeout

    from neurocache.desktop import hub_lock

    settings, _ = settings_from(kwargs)
    lock = hub_lock(settings.data_dir)
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise click.ClickException(
            f"another hub already serves {settings.data_dir}: stop it first, or give this one "
            f"another --data-dir.{_where_it_runs(settings)}"
        ) from exc
    try:
        _serve(settings)
    finally:
        lock.release()


def _where_it_runs(settings: Settings) -> str:
    """The running hub's sign-in link, so a second `serve` still gets a person in."""
    try:
        url = json.loads((settings.data_dir / RUNTIME_FILE).read_text())["url"]
        token = (settings.data_dir / TOKEN_FILE).read_text().strip()
    except (OSError, ValueError, KeyError):
        return " (`hub.json` there says where it listens.)"
    return f"\nOpen the hub that runs: {url}/?token={token}"


def _serve(settings: Settings) -> None:
    with quick_start():
        from neurocache.app import create_app, hub_of
        from neurocache.web.server import HubServer

        app = create_app(settings)
    try:
        server = HubServer(app, settings.host, settings.port, hub_of(app).threads)
    except OSError as exc:
        app.extensions["neurocache"].close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"port {settings.port} on {settings.host} is already in use: is another hub "
                "running? Choose another with --port (0 picks a free one)."
            ) from exc
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc}"
        ) from exc
    token = app.extensions["neurocache"].owner_token.value
    server.announce(settings.data_dir)
    click.echo(f"Neurocache {__version__} is listening on {server.url}")
    click.echo(f"Data: {settings.data_dir}")
    click.echo(f"Open the hub: {server.url}/?token={token}", color=False)
    sys.stdout.flush()
    _serve_until_signalled(server)
    click.echo("Neurocache stopped.")


def _serve_until_signalled(server: Any) -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@settings_options
def config(as_json: bool, **kwargs: Any) -> None:
    """Print every effective setting and where its value came from."""
    settings, flags = settings_from(kwargs)
    sources = setting_sources(settings, flags)
    values = settings.model_dump(mode="json")
    if as_json:
        click.echo(
            json.dumps({n: {"value": values[n], "source": sources[n]} for n in values}, indent=2)
        )
        return
    width = max(len(name) for name in values)
    click.echo(f"# config file: {settings.config_file}")
    for name, value in values.items():
        click.echo(f"{name:<{width}}  {json.dumps(value):<40}  ({sources[name]})")


@main.command()
@settings_options
def migrate(**kwargs: Any) -> None:
    """Bring the store to the newest schema and exit (a hub does this when it starts; run
    it once before starting several hub processes on one store, which would race)."""
    from neurocache.store import Database

    settings, _ = settings_from(kwargs)
    db = Database(settings.effective_database_url, settings.store_busy_timeout_s)
    try:
        db.migrate()
        click.echo(f"The store is at schema {db.current_revision()}.")
    finally:
        db.close()


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


def _hub(kwargs: dict[str, Any]) -> Hub:
    from neurocache.hub import Hub

    settings, _ = settings_from(kwargs)
    return Hub(settings)


@keys.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="Repeat for several; default: read.",
)
@click.option("--user", help="A user's name or id: the key is theirs (default: the owner's).")
@settings_options
def keys_create(name: str, scopes: tuple[str, ...], user: str | None, **kwargs: Any) -> None:
    """Create a key; prints it alone on the last line (it is shown only this once)."""
    hub = _hub(kwargs)
    try:
        owner = hub.users.person_for_new_key(user) if user else "owner"
        view, secret = hub.keys.create(name, list(scopes) or ["read"], CLI_ACTOR, owner=owner)
    except NeurocacheError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.close()
    click.echo(f"Created key {view.id} ({view.name}; scopes: {', '.join(view.scopes)}).")
    click.echo("Store it now: it is not shown again.")
    click.echo(secret)


@main.group()
def users() -> None:
    """People who share this hub, each with their own keys."""


@users.command("add")
@click.argument("name")
@click.option("--display-name", help="How messages show them (default: NAME).")
@settings_options
def users_add(name: str, display_name: str | None, **kwargs: Any) -> None:
    """Add a person (NAME is how @mentions address them); then `keys create --user NAME`."""
    hub = _hub(kwargs)
    try:
        user = hub.users.create(name, CLI_ACTOR, display_name)
    except NeurocacheError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.close()
    click.echo(f"Added {user.display_name} (@{user.name}, {user.person}).")


@users.command("list")
@settings_options
def users_list(**kwargs: Any) -> None:
    """Every user, newest first."""
    hub = _hub(kwargs)
    try:
        rows, _cursor = hub.users.list(limit=500)
    finally:
        hub.close()
    for row in rows:
        state = f"disabled {row.disabled_at}" if row.disabled_at else "active"
        click.echo(f"{row.id}  @{row.name}  {row.display_name}  {state}")


@users.command("remove")
@click.argument("name")
@settings_options
def users_remove(name: str, **kwargs: Any) -> None:
    """Disable a user and revoke their keys (what they said keeps their name)."""
    hub = _hub(kwargs)
    try:
        user, revoked = hub.users.disable(name, CLI_ACTOR, hub.keys.revoke_all_of)
    except NeurocacheError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.close()
    click.echo(f"Disabled @{user.name}; revoked {revoked} key(s).")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@settings_options
def keys_list(as_json: bool, **kwargs: Any) -> None:
    """List keys, newest first."""
    hub = _hub(kwargs)
    try:
        rows, cursor = hub.keys.list(limit=500)
        while cursor:
            more, cursor = hub.keys.list(limit=500, cursor=cursor)
            rows += more
    finally:
        hub.close()
    if as_json:
        click.echo(json.dumps(plain(rows), indent=2))
        return
    for row in rows:
        state = f"revoked {row.revoked_at}" if row.revoked_at else "active"
        used = row.last_used_at or "never used"
        click.echo(
            f"{row.id}  {row.prefix}…  {row.name}  [{','.join(row.scopes)}]  {state}  {used}"
        )


@keys.command("revoke")
@click.argument("key_id")
@settings_options
def keys_revoke(key_id: str, **kwargs: Any) -> None:
    """Revoke a key by id: it stops working at once."""
    hub = _hub(kwargs)
    try:
        view = hub.keys.revoke(key_id, CLI_ACTOR)
    except NeurocacheError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        hub.close()
    click.echo(f"Revoked key {view.id} ({view.name}).")


for commands in (models, knowledge, chat, ops, bundles, mcp):
    commands.register(main, settings_options, settings_from)
cluster.register(main)


@main.command("model-server", hidden=True)
@click.option("--model", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1")
@click.option("--port", type=int, required=True)
@click.option("--embedding", is_flag=True)
@click.option("--n-ctx", type=int, default=4096)
@click.option("--n-gpu-layers", type=int, default=0)
@click.option("--alias")
@click.option("--parent-pid", type=int, help="End when this process is gone.")
def model_server(
    model: str,
    host: str,
    port: int,
    embedding: bool,
    n_ctx: int,
    n_gpu_layers: int,
    alias: str | None,
    parent_pid: int | None,
) -> None:
    """Serve one GGUF over the OpenAI protocol (the hub starts this itself)."""
    from neurocache.llm.processes import run_model_server

    run_model_server(
        model,
        host,
        port,
        parent_pid=parent_pid,
        embedding=embedding,
        n_ctx=n_ctx,
        n_gpu_layers=n_gpu_layers,
        alias=alias,
    )


@main.command("guard", hidden=True, context_settings={"ignore_unknown_options": True})
@click.option("--parent-pid", type=int, required=True)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def guard(parent_pid: int, command: tuple[str, ...]) -> None:
    """Run COMMAND (a llamafile) and end it when the hub is gone (the hub starts this)."""
    from neurocache.llm.processes import run_guarded

    sys.exit(run_guarded(list(command), parent_pid))

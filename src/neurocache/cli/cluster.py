"""`neurocache cluster up --hubs N --data-dir DIR [--json]`: a team hub on this machine
(cluster/up.py), running until SIGTERM or Ctrl-C, then stopped whole."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import click

from neurocache.errors import NeurocacheError


def register(main: click.Group) -> None:
    @main.group()
    def cluster() -> None:
        """Team mode on one machine: PostgreSQL, Redis, several hubs, a load balancer."""

    @cluster.command()
    @click.option(
        "--hubs",
        type=click.IntRange(1, 16),
        default=2,
        show_default=True,
        help="Hub processes behind the load balancer.",
    )
    @click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        required=True,
        help="Where the cluster keeps PostgreSQL's files, Redis's, the hubs' "
        "shared data dir and every process's log.",
    )
    @click.option(
        "--json",
        "as_json",
        is_flag=True,
        help='One line: {"url", "hubs": [...], "key", "pids": {...}, "database_url", "data_dir"}.',
    )
    def up(hubs: int, data_dir: Path, as_json: bool) -> None:
        """Start PostgreSQL (with pgvector), Redis, HUBS hub processes (gunicorn) and
        HAProxy, all on 127.0.0.1; print where they are; stop them all on SIGTERM/Ctrl-C."""
        from neurocache.cluster.up import Cluster

        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            running = Cluster(data_dir.expanduser().resolve(), hubs).up()
        except NeurocacheError as exc:
            raise click.ClickException(exc.message) from exc
        try:
            _announce(running.view(), as_json)
            stop.wait()
        finally:
            running.down()
        if not as_json:
            click.echo("Cluster stopped.")


def _announce(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(view), nl=True)
        return
    click.echo(f"Team hub: {view['url']}")
    for url in view["hubs"]:
        click.echo(f"  hub process: {url}")
    click.echo(f"Admin key (shown once): {view['key']}")
    click.echo(f"Store: {view['database_url']}, data dir {view['data_dir']}")
    click.echo("Ctrl-C or SIGTERM stops every process.")

"""A throw-away PostgreSQL server for the tests: a cluster in a temp dir, on a free
loopback port, started with the system's PostgreSQL binaries (`make test` installs them)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def pgvector_bin_dir() -> Path | None:
    """The PostgreSQL that the `pgserver` package ships, with pgvector (`make test`
    installs it; Debian's PostgreSQL has no pgvector package here)."""
    try:
        import pgserver
    except ImportError:
        return None
    found = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if not (found / "pg_ctl").is_file():
        return None
    if os.geteuid() == 0:  # the server runs as `postgres`: it must reach the venv
        reach = subprocess.run(
            _as_server_user(["test", "-x", str(found / "postgres")]), capture_output=True
        )
        if reach.returncode != 0:
            return None
    return found


def postgres_bin_dir() -> Path | None:
    """PostgreSQL's server programs: pgserver's (with pgvector) first, else the system's."""
    with_pgvector = pgvector_bin_dir()
    if with_pgvector is not None:
        return with_pgvector
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _as_server_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root, so the cluster belongs to `postgres`.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Yields the SQLAlchemy URL of the server's `postgres` database."""
    data = Path(tempfile.mkdtemp(prefix="neurocache-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            _as_server_user([str(bin_dir / args[0]), *args[1:]]),
            check=True,
            capture_output=True,
            timeout=120,
        )

    run("initdb", "-D", str(data / "db"), "-A", "trust", "-U", "neurocache", "--no-sync")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    run("pg_ctl", "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://neurocache@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(data / "db"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"

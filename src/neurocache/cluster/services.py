"""The servers a team hub stands on, started as throw-away processes in a data dir:
PostgreSQL with pgvector (the `pgserver` package's build), Redis, and HAProxy. Each is a
`Service`: started, waited for, stopped; `stop` never raises, so the rest still stop."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from neurocache.errors import Unavailable

log = logging.getLogger("neurocache.cluster")
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"{what} exited with code {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise Unavailable(f"{what} did not listen on port {port} within {READY_TIMEOUT_S:.0f} s")


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def spawn(self, command: list[str], log_path: Path, **extra: object) -> None:
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches `cluster up`, which stops us in order
                **extra,  # type: ignore[call-overload]
            )
        wait_for_port(self.port, self.process, self.name)

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM, then after `grace_s` SIGKILL; and whatever of its session is left
        (a worker whose master went first) is killed with it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killed", self.name, grace_s)
                process.kill()
                process.wait(10)
            except OSError:
                pass
        with contextlib.suppress(OSError):  # its own session: the group id is its pid
            os.killpg(process.pid, signal.SIGKILL)


def pgvector_postgres(folder: Path) -> Path:
    """The PostgreSQL server programs with pgvector: the `pgserver` package's build. As
    root they run as `postgres`, who may not enter the virtualenv (a checkout under /root):
    then they run from a copy in `folder` (34 MB, made once)."""
    try:
        import pgserver
    except ImportError as exc:
        raise Unavailable(
            "team mode on one machine needs PostgreSQL with pgvector: "
            "`pip install pgserver` (make test installs it)"
        ) from exc
    package = Path(pgserver.__file__).parent
    if os.geteuid() != 0 or _server_user_can_run(package / "pginstall" / "bin" / "postgres"):
        return package / "pginstall" / "bin"
    # the same layout: the programs find their libraries at $ORIGIN/../../../pgserver.libs
    copy = folder / "programs"
    for part in ("pgserver/pginstall", "pgserver.libs"):
        if not (copy / part).is_dir():
            shutil.copytree(package.parent / part, copy / part, symlinks=True)
    return copy / "pgserver" / "pginstall" / "bin"


def _server_user_can_run(program: Path) -> bool:
    checked = subprocess.run(
        _as_server_user(["test", "-x", str(program)]), capture_output=True, timeout=30
    )
    return checked.returncode == 0


def _as_server_user(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: then the cluster belongs to `postgres`.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Postgres(Service):
    folder: Path = field(default_factory=Path)
    user: str = "neurocache"
    _bin_dir: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/neurocache"

    def start(self) -> Postgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        bin_dir = pgvector_postgres(self.folder)
        data = self.folder / "data"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        if not (data / "PG_VERSION").is_file():
            made = subprocess.run(
                _as_server_user(
                    [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user]
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if made.returncode != 0:
                raise Unavailable(
                    f"PostgreSQL's initdb failed in {data}: {made.stderr.strip()[-400:]}"
                    + (
                        " (as root, the cluster belongs to the `postgres` user, who must be "
                        "able to reach that folder)"
                        if os.geteuid() == 0
                        else ""
                    )
                )
        # pg_ctl, not the server itself under runuser: a signal to runuser would not reach
        # PostgreSQL, which must stop with the cluster.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self.folder / "postgres.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        self._bin_dir = bin_dir
        self._create_database(bin_dir)
        return self

    @property
    def _connection(self) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]

    def _create_database(self, bin_dir: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:  # listening is not yet accepting: retry until it answers
            done = subprocess.run(
                [
                    str(bin_dir / "psql"),
                    *self._connection,
                    "-d",
                    "postgres",
                    "-tAc",
                    "SELECT 1 FROM pg_database WHERE datname = 'neurocache'",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise Unavailable(f"PostgreSQL did not answer: {done.stderr.strip()}")
            time.sleep(0.2)
        if done.stdout.strip() != "1":
            subprocess.run(
                [str(bin_dir / "createdb"), *self._connection, "neurocache"],
                check=True,
                capture_output=True,
                timeout=30,
            )

    @property
    def pid(self) -> int | None:
        pid_file = self.folder / "data" / "postmaster.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, grace_s: float = 30.0) -> None:
        """A fast shutdown (clients cut, everything written so far kept)."""
        if self.pid is None:
            return
        subprocess.run(
            _as_server_user(
                [
                    str(self._bin_dir / "pg_ctl"),
                    "-D",
                    str(self.folder / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(int(grace_s)),
                    "stop",
                ]
            ),
            capture_output=True,
            timeout=grace_s + 30,
        )


@dataclass
class Redis(Service):
    folder: Path = field(default_factory=Path)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        server = shutil.which("redis-server")
        if server is None:
            raise Unavailable("team mode needs redis-server (Debian: the redis-server package)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.spawn(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            self.folder / "redis.log",
        )
        return self


HAPROXY_CONFIG = """global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    option forwardfor

frontend hub
    bind 127.0.0.1:{port}
    default_backend hubs

backend hubs
    balance roundrobin
    # Socket.IO: every request of a session goes to the process that holds it
    cookie NEUROCACHE_HUB insert indirect nocache httponly attr "SameSite=Strict"
    option httpchk GET /api/v1/health
{servers}
"""


@dataclass
class HAProxy(Service):
    folder: Path = field(default_factory=Path)
    backends: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"    server hub{n} 127.0.0.1:{port} check cookie hub{n}"
            for n, port in enumerate(self.backends, start=1)
        )
        return HAPROXY_CONFIG.format(port=self.port, servers=servers)

    def start(self) -> HAProxy:
        haproxy = shutil.which("haproxy") or (
            "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").is_file() else None
        )
        if haproxy is None:
            raise Unavailable("team mode needs HAProxy (Debian: the haproxy package)")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "haproxy.cfg"
        path.write_text(self.config())
        self.spawn([haproxy, "-W", "-db", "-f", str(path)], self.folder / "haproxy.log")
        return self

    def stop(self, grace_s: float = 30.0) -> None:
        # In master-worker mode SIGUSR1 is a soft stop; SIGTERM stops at once (fine here:
        # the hubs behind it have already drained).
        super().stop(grace_s)

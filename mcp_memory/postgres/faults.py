"""What a person is told when the database fails: where it is (``Target``: host, port,
database and user, never the password), that it is away (``unavailable``), or that what it
holds is damaged (``Damage``).

PostgreSQL keeps its own files sound (the write-ahead log, crash recovery, page checksums when
the cluster has them), so a damaged page or index is rare, and its mending (``REINDEX``, a
restore) is the database administrator's. What mcp-memory does is what it does for a damaged
SQLite file: a statement meeting damage (``data_corrupted``, ``index_corrupted``) is a clear
one-line error, never a traceback, and from then on this process writes nothing more to the
ledger (``StoreDamaged``), while reads go on. Damage met in a pgvector table is the vector
index's (``IndexDamaged``): derived from the ledger, it is dropped and rebuilt, as a damaged
Chroma store is.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from mcp_memory.errors import ConfigError, IndexDamaged, StoreDamaged, StoreUnavailable

DAMAGED = (errors.DataCorrupted, errors.IndexCorrupted)
"""What PostgreSQL raises when it finds a page or an index damaged (SQLSTATE XX001, XX002)."""


@dataclass(frozen=True)
class Target:
    """Where a DSN points, without its password: for messages and ``doctor``."""

    host: str
    port: str
    database: str
    user: str
    password: str

    @classmethod
    def of(cls, dsn: str) -> Target:
        try:
            parts = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            raise ConfigError(
                "storage.dsn is not a PostgreSQL connection string: write it as "
                "postgresql://USER@HOST:PORT/DATABASE (the password may come from PGPASSWORD "
                "or ~/.pgpass)"
            ) from None
        env = os.environ  # what libpq falls back on for what the DSN leaves out
        user = parts.get("user") or env.get("PGUSER") or ""
        return cls(
            host=str(parts.get("host") or env.get("PGHOST") or "localhost"),
            port=str(parts.get("port") or env.get("PGPORT") or "5432"),
            database=str(parts.get("dbname") or env.get("PGDATABASE") or user or "postgres"),
            user=str(user),
            password=str(parts.get("password") or env.get("PGPASSWORD") or ""),
        )

    def __str__(self) -> str:
        where = self.host if self.host.startswith("/") else f"{self.host}:{self.port}"
        who = f" as {self.user}" if self.user else ""
        return f"{where} (database {self.database}{who})"

    def scrub(self, text: str) -> str:
        """``text`` with the password cut out, wherever a driver might have put it."""
        return text.replace(self.password, "***") if self.password else text


def unavailable(target: Target, exc: BaseException, doing: str = "") -> StoreUnavailable:
    """The error a caller sees when the database cannot be reached: one line, no password."""
    reason = target.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    return StoreUnavailable(
        f"PostgreSQL at {target} is unavailable{doing} ({reason}): check that the server is "
        "running and reachable from here, and [storage] dsn (MCP_MEMORY_STORAGE__DSN); "
        "the call was not completed: try it again once the database is back"
    )


class Damage:
    """The damage this process's statements have met in the ledger's tables (none: sound);
    once any, ``writable`` refuses every write."""

    def __init__(self, target: Target, schema: str):
        self._target = target
        self._schema = schema
        self._lock = threading.Lock()
        self.problems: list[str] = []

    def met(self, exc: psycopg.Error, index: str | None) -> StoreDamaged:
        """The error for damage ``exc`` reports: the vector table ``index``'s (rebuilt from
        the ledger), else the ledger's (recorded: writes are refused from now on)."""
        detail = self._target.scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0])
        if index is not None:
            return IndexDamaged(f"pgvector table {self._schema}.{index} at {self._target}", detail)
        self.record(detail)
        return self.error()

    def record(self, problem: str) -> None:
        """Remember damage found (by a statement, or by ``Integrity``'s full look)."""
        with self._lock:
            if problem not in self.problems:
                self.problems.append(problem)

    def writable(self) -> None:
        """Refuse a write once the ledger was found damaged."""
        if self.problems:
            raise self.error()

    def error(self) -> StoreDamaged:
        schema = self._schema
        return StoreDamaged(
            f"the ledger in PostgreSQL at {self._target}, schema {schema}, is damaged "
            f"({'; '.join(self.problems)}), so this server writes nothing more to it: a damaged "
            f"index is mended by `REINDEX SCHEMA {schema};` (run as the schema's owner), "
            "damaged rows by restoring the database from a backup (README, Many machines: "
            "what to back up); then restart the servers. `mcp-memory doctor` checks the store"
        )

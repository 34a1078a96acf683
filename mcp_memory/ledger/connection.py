"""The one SQLite connection a ledger holds, and the helpers every part of it reads through.

One connection, opened in autocommit mode (``isolation_level=None``) so that transactions are
exactly the ``BEGIN IMMEDIATE ... COMMIT`` this module writes, shared by the service's threads
and serialised by a re-entrant lock. WAL mode and a busy timeout let several processes share the
file: a writer waits for another instead of failing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK = 500
"""Ids bound in one ``IN (...)`` list: well under SQLite's cap on parameters per statement."""


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in consecutive lists of at most ``size``, for statements that bind each one."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def marks(count: int) -> str:
    """``count`` comma-separated placeholders, for an ``IN (...)`` list."""
    return ",".join("?" * count)


class Connection:
    """The connection, its lock, write transactions and the read helper; the base of every
    part of ``Ledger``."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so writers queue instead of failing."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def traced(self) -> Iterator[list[str]]:
        """Every statement this connection runs meanwhile, in order, as SQLite expands it: how
        a test or a profile sees what a call costs (a search's reads, a cache that holds)."""
        seen: list[str] = []
        self._conn.set_trace_callback(seen.append)
        try:
            yield seen
        finally:
            self._conn.set_trace_callback(None)

    def query_plan(self, sql: str) -> list[str]:
        """SQLite's plan for one statement (``EXPLAIN QUERY PLAN``), a line per step."""
        return [row[3] for row in self._read("EXPLAIN QUERY PLAN " + sql)]

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

"""The one SQLite connection a ledger holds, and the helpers every part of it reads through.

One connection, opened in autocommit mode (``isolation_level=None``) so that transactions are
exactly the ``BEGIN IMMEDIATE ... COMMIT`` this module writes, shared by the service's threads
and serialised by a re-entrant lock. WAL mode and a busy timeout let several processes share the
file: a writer waits for another instead of failing.

Every statement runs here, so SQLite's failures become the core's errors here, once: a full
disk ``StorageFull``, a damaged file ``LedgerDamaged``, a file that cannot be opened or written
``StoreUnavailable``, each naming the file. A write that fails is rolled back whatever failed,
the ``COMMIT`` included: a transaction left open after ``SQLITE_FULL`` would hold the write
lock and stall every later write, of this process and of the others sharing the file.

Writes are refused while the disk is under the reserve (``store.disk.Reserve``) and once the
ledger has failed an integrity check (``Integrity``): the first write of a process waits for
``PRAGMA quick_check`` (0.3 s at 100k memories with the file cached, 1.3 s from a cold disk;
``integrity_check``, which also cross-checks every index, takes 3 s and is left to ``doctor``).
The server runs that check in the background at start, so no call waits for it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mcp_memory.errors import (
    InvalidInput,
    LedgerDamaged,
    MemoryServiceError,
    StoreUnavailable,
)
from mcp_memory.store.disk import Reserve, free_bytes

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHUNK = 500
"""Ids bound in one ``IN (...)`` list: well under SQLite's cap on parameters per statement."""

_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
_UNWRITABLE = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM}


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

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000, reserve: Reserve | None = None):
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._reserve = reserve or Reserve(path.parent, 0)
        self._lock = threading.RLock()
        self._check_lock = threading.Lock()
        self._problems: list[str] | None = None  # the integrity verdict: None until checked
        if path.is_file() and path.stat().st_size == 0:
            raise LedgerDamaged(path, "the file is empty (0 bytes): it was truncated")
        with self._translated():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
            try:
                self._conn.row_factory = sqlite3.Row
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                self._conn.close()
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self, derived: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so writers queue instead of failing;
        refused while the disk is under the reserve or the file failed its integrity check.
        ``derived``: a corruption error inside concerns a derived structure the caller checks
        and rebuilds (FTS5's own check), not the file: it is raised as SQLite's."""
        with self._lock, self._translated(derived):
            self._writable()
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Roll back whatever is open: SQLite may have rolled back already (``SQLITE_FULL``),
        and a failed rollback must not hide the error that caused it."""
        if not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            logger.warning("rolling back a failed write on %s failed too: %s", self.path, exc)

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
        with self._lock, self._translated():
            return self._conn.execute(sql, params).fetchall()

    # -- integrity ---------------------------------------------------------------------------

    def _writable(self) -> None:
        """Refuse a write into a damaged file or onto a disk under the reserve."""
        problems = self._verdict()
        if problems:
            raise LedgerDamaged(self.path, "; ".join(problems))
        self._reserve.check()

    def _verdict(self, full: bool = False) -> list[str]:
        """The integrity check's problems: run once (``full``: every time it is asked)."""
        with self._check_lock:
            if self._problems is None or (full and not self._problems):
                self._problems = self._run_check(full)
            return self._problems

    def _run_check(self, full: bool) -> list[str]:
        """``PRAGMA quick_check`` (or ``integrity_check``) on a connection of its own, so reads
        on the shared one go on meanwhile; the first few problems found."""
        pragma = "integrity_check(5)" if full else "quick_check(5)"
        try:
            checker = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000)
            try:
                rows = [
                    " ".join(str(row[0]).split()) for row in checker.execute(f"PRAGMA {pragma}")
                ]
            finally:
                checker.close()
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _DAMAGED:
                return [str(exc)]
            raise
        return [] if rows == ["ok"] else rows

    # -- SQLite's failures as the core's errors ----------------------------------------------

    @contextmanager
    def _translated(self, derived: bool = False) -> Iterator[None]:
        try:
            yield
        except MemoryServiceError:
            raise
        except sqlite3.Error as exc:
            if derived and _code(exc) in _DAMAGED:
                raise
            error = self._meaning(exc)
            if error is None:
                raise
            raise error from exc
        except OverflowError as exc:
            raise InvalidInput(
                f"a number in the request is too large to store ({exc}): integers are at most "
                "9223372036854775807"
            ) from None

    def _meaning(self, exc: sqlite3.Error) -> MemoryServiceError | None:
        """What a SQLite error means for the user, or None for a programming error."""
        code = _code(exc)
        if code == sqlite3.SQLITE_FULL or (
            code == sqlite3.SQLITE_IOERR and (free_bytes(self.path.parent) or 0) < 1_048_576
        ):
            return self._reserve.full()
        if code in _DAMAGED:
            self._problems = [str(exc)]
            return LedgerDamaged(self.path, str(exc))
        if code in _UNWRITABLE:
            return StoreUnavailable(
                f"cannot open or write the ledger {self.path} ({exc}): the data dir must be "
                "writable by this user; fix its permissions, or set data_dir (--data-dir, "
                "MCP_MEMORY_DATA_DIR) to a writable directory"
            )
        if code in _LOCKED:
            return StoreUnavailable(
                f"the ledger {self.path} stayed locked by another process for "
                f"{self._busy_timeout_ms / 1000:.0f} s ({exc}): retry; if it persists, stop "
                "the other mcp-memory processes using this data dir (or a program holding "
                "the file open)"
            )
        if code == sqlite3.SQLITE_IOERR:
            return StoreUnavailable(
                f"the disk failed reading or writing the ledger {self.path} ({exc}): check "
                "the disk (dmesg, or the network share it is on), then retry"
            )
        return None


def _code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of an error (None when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF

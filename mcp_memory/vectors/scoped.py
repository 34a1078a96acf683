"""The scope-clustered copy of the vectors: one SQLite file per collection, for exact search."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCOPED_VECTORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    user_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    id TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (user_id, agent_id, session_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS ix_vectors_id ON vectors(id);
CREATE INDEX IF NOT EXISTS ix_vectors_agent ON vectors(agent_id);
CREATE INDEX IF NOT EXISTS ix_vectors_session ON vectors(session_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_SCOPE_KEYS = ("user_id", "agent_id", "session_id")


class ScopedVectors:
    """The vectors again, in their own SQLite file clustered by scope, for exact search.

    Derived data, like the Chroma index it sits next to (``vectors.chroma.ChromaIndex`` writes
    both in the same calls): an HNSW graph filtered to one user out of a hundred visits most of
    the graph before it finds k neighbours that pass (60-120 ms at 100k vectors in Chroma), while
    a dot product over that user's thousand vectors takes well under a millisecond. Being SQLite
    (WAL), this copy is shared by every process that opens the data directory: no cache to
    invalidate."""

    def __init__(self, path: Path, dimension: int, busy_timeout_ms: int = 10_000):
        self.dimension = dimension
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            if fresh:
                self._conn.execute("PRAGMA page_size=16384")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            self._conn.executescript(SCOPED_VECTORS_SCHEMA)
        except BaseException:  # a damaged file: the caller reports it, and it is rebuilt
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def upsert(self, rows: Sequence[tuple[str, str, str, str, np.ndarray]]) -> None:
        """(id, user_id, agent_id, session_id, vector) rows; a moved id leaves its old scope."""
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._delete(r[0] for r in rows)
                self._conn.executemany(
                    "INSERT INTO vectors (id, user_id, agent_id, session_id, vector) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (i, u, a, s, np.asarray(v, dtype=np.float32).tobytes())
                        for i, u, a, s, v in rows
                    ],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back by itself (a full disk): a second ROLLBACK would
                # raise and hide why; a failed COMMIT must not leave the write lock held.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._lock:
                self._delete(ids)

    def _delete(self, ids: Any) -> None:
        self._conn.executemany("DELETE FROM vectors WHERE id = ?", [(i,) for i in ids])

    def built_with(self) -> tuple[str, int] | None:
        """The (model, dimension) recorded by ``record_model``; None before the first."""
        with self._lock:
            rows = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        if "model" not in rows or "dimension" not in rows:
            return None
        return rows["model"], int(rows["dimension"])

    def record_model(self, model: str, dimension: int) -> None:
        """Record the model the copy's vectors come from (checked against the collection's)."""
        with self._lock:
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("model", model), ("dimension", str(dimension))],
            )

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM vectors")
            self._conn.execute("DELETE FROM meta")

    def blocks(
        self, scope: dict[str, str] | None = None, size: int = 4096
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every vector within the scope, ``size`` rows at a time (a scan of the whole store
        without holding it all in memory, nor the lock between blocks)."""
        where, params = _scope_where(scope or {})
        after: tuple[str, ...] = ("", "", "", "")
        while True:
            with self._lock:
                rows = self._conn.execute(
                    "SELECT user_id, agent_id, session_id, id, vector FROM vectors "
                    f"WHERE (user_id, agent_id, session_id, id) > (?, ?, ?, ?) AND {where} "
                    "ORDER BY user_id, agent_id, session_id, id LIMIT ?",
                    [*after, *params, size],
                ).fetchall()
            if not rows:
                return
            after = tuple(rows[-1][:4])
            yield self._stack([(r[3], r[4]) for r in rows])

    def count(self, scope: dict[str, str] | None = None) -> int:
        where, params = _scope_where(scope or {})
        with self._lock:
            return self._conn.execute(
                f"SELECT COUNT(*) FROM vectors WHERE {where}", params
            ).fetchone()[0]

    def read(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Every vector within the scope (and among ``ids`` if given): ids and matrix rows."""
        if ids is not None:
            return self._by_ids(ids, scope or {})
        where, params = _scope_where(scope or {})
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id, vector FROM vectors WHERE {where}", params
            ).fetchall()
        return self._stack(rows)

    def _by_ids(self, ids: Sequence[str], scope: dict[str, str]) -> tuple[list[str], np.ndarray]:
        where, params = _scope_where(scope)
        rows: list[tuple[str, bytes]] = []
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                rows += self._conn.execute(
                    f"SELECT id, vector FROM vectors WHERE id IN ({','.join('?' * len(chunk))}) "
                    f"AND {where}",
                    [*chunk, *params],
                ).fetchall()
        return self._stack(rows)

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of these ids (those the copy holds)."""
        found, matrix = self._by_ids(ids, {})
        return dict(zip(found, matrix, strict=True))

    def _stack(self, rows: list[tuple[str, bytes]]) -> tuple[list[str], np.ndarray]:
        if not rows:
            return [], np.zeros((0, self.dimension), dtype=np.float32)
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return [r[0] for r in rows], matrix.reshape(len(rows), -1)

    def all_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._conn.execute("SELECT id FROM vectors")}


def delete_files(path: Path) -> None:
    """Delete a scoped copy's file, with the write-ahead log and shared-memory files SQLite
    keeps beside it (a dropped collection's copy)."""
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        file.unlink(missing_ok=True)


def _scope_where(scope: dict[str, str]) -> tuple[str, list[str]]:
    terms = [(key, value) for key, value in scope.items() if key in _SCOPE_KEYS and value]
    if not terms:
        return "1=1", []
    return " AND ".join(f"{key} = ?" for key, _ in terms), [value for _, value in terms]

"""Exact search within a scope: the vectors again, in a small SQLite table indexed by scope.

Why: an HNSW graph filtered to one user out of a hundred visits most of the graph before it
finds k neighbours that pass the filter (about 60-120 ms at 100k vectors in Chroma), while an
exact dot product over that user's thousand vectors takes microseconds. So the vector index
keeps each vector twice: in Chroma's HNSW for searches over everything, and here, clustered by
(user_id, agent_id, session_id), for searches within a scope or a filtered set of ids. Both are
derived data, written in the same ``upsert``/``delete`` calls and rebuilt with the index. Being
SQLite (WAL), this copy is shared by every process that opens the data directory, so there is
no cache to invalidate.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = """
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
"""
SCOPE_KEYS = ("user_id", "agent_id", "session_id")


class ScopedVectors:
    """Vectors keyed by scope, for exact nearest-neighbour search within a scope or id set."""

    def __init__(self, path: Path, dimension: int, busy_timeout_ms: int = 10_000):
        self.dimension = dimension
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        if fresh:
            self._conn.execute("PRAGMA page_size=16384")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        self._conn.executescript(SCHEMA)

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
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            with self._lock:
                self._delete(ids)

    def _delete(self, ids: Any) -> None:
        self._conn.executemany("DELETE FROM vectors WHERE id = ?", [(i,) for i in ids])

    def count(self, scope: dict[str, str] | None = None) -> int:
        where, params = _where(scope or {})
        with self._lock:
            return self._conn.execute(
                f"SELECT COUNT(*) FROM vectors WHERE {where}", params
            ).fetchone()[0]

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The k most similar (id, cosine) within the scope, and among ``ids`` if given."""
        if ids is not None:
            found, matrix = self._by_ids(ids, scope or {})
        else:
            where, params = _where(scope or {})
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT id, vector FROM vectors WHERE {where}", params
                ).fetchall()
            found, matrix = self._stack(rows)
        if not found:
            return []
        sims = matrix @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if len(found) > k else np.arange(len(found))
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(found[i], float(sims[i])) for i in top]

    def _by_ids(self, ids: Sequence[str], scope: dict[str, str]) -> tuple[list[str], np.ndarray]:
        where, params = _where(scope)
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

    def _stack(self, rows: list[tuple[str, bytes]]) -> tuple[list[str], np.ndarray]:
        if not rows:
            return [], np.zeros((0, self.dimension), dtype=np.float32)
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return [r[0] for r in rows], matrix.reshape(len(rows), -1)

    def all_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._conn.execute("SELECT id FROM vectors")}


def _where(scope: dict[str, str]) -> tuple[str, list[str]]:
    terms = [(key, value) for key, value in scope.items() if key in SCOPE_KEYS and value]
    if not terms:
        return "1=1", []
    return " AND ".join(f"{key} = ?" for key, _ in terms), [value for _, value in terms]

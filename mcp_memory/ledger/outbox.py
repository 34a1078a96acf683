"""The index outbox: which vector changes the ledger has committed and the vector index has
not yet confirmed.

Every write that must reach the vector index records an entry in ``index_queue`` in the same
transaction as the row: if the process dies before the vector store is updated, start-up finds
the entry and finishes the job, so the index never silently drifts from the ledger. One entry
per memory: a newer operation replaces an older one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from mcp_memory.clock import to_iso
from mcp_memory.ledger.connection import Connection
from mcp_memory.models import Memory


def enqueue(conn: sqlite3.Connection, memory_id: str, op: str, at: datetime) -> None:
    """Queue ``op`` ('upsert' or 'delete') for a memory, inside the caller's transaction."""
    conn.execute(
        "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, ?, ?) "
        "ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op, queued_at = excluded.queued_at",
        (memory_id, op, to_iso(at)),
    )


def enqueue_upserts(conn: sqlite3.Connection, memories: Sequence[Memory]) -> None:
    """Queue an upsert of each memory (a batch: an import), inside the caller's transaction."""
    conn.executemany(
        "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, 'upsert', ?) "
        "ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op, "
        "queued_at = excluded.queued_at",
        [(memory.id, to_iso(memory.updated_at)) for memory in memories],
    )


class Outbox(Connection):
    """Reading and clearing the index queue."""

    def pending_index(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(memory_id, op) pairs whose vector change is not yet confirmed, oldest first."""
        sql = "SELECT memory_id, op FROM index_queue ORDER BY queued_at"
        rows = self._read(sql + (f" LIMIT {int(limit)}" if limit else ""))
        return [(row["memory_id"], row["op"]) for row in rows]

    def count_pending(self) -> int:
        return self._read("SELECT COUNT(*) FROM index_queue")[0][0]

    def mark_indexed(self, entries: Sequence[tuple[str, str]]) -> None:
        """Clear queue entries, but only if no newer operation replaced them meanwhile."""
        if not entries:
            return
        with self.transaction() as conn:
            conn.executemany("DELETE FROM index_queue WHERE memory_id = ? AND op = ?", entries)

    def requeue_all(self) -> int:
        """Queue an upsert of every memory (the vector index is being rebuilt)."""
        with self.transaction() as conn:
            return conn.execute(
                "INSERT INTO index_queue (memory_id, op, queued_at) "
                "SELECT id, 'upsert', updated_at FROM memories WHERE true "
                "ON CONFLICT (memory_id) DO UPDATE SET op = 'upsert'"
            ).rowcount

"""The index outbox: which vector changes the ledger has committed and the vector index has
not yet confirmed (see ``mcp_memory.ledger.outbox``: the same contract). One entry per memory:
a newer operation replaces an older one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mcp_memory.models import Memory
from mcp_memory.postgres.database import Conn, Part

_ENQUEUE = (
    "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op, queued_at = excluded.queued_at"
)


def enqueue(conn: Conn, memory_id: str, op: str, at: datetime) -> None:
    """Queue ``op`` ('upsert' or 'delete') for a memory, inside the caller's transaction."""
    conn.execute(_ENQUEUE, (memory_id, op, at))


def enqueue_upserts(conn: Conn, memories: Sequence[Memory]) -> None:
    """Queue an upsert of each memory (a batch: an import), inside the caller's transaction."""
    if memories:
        conn.cursor().executemany(
            _ENQUEUE, [(memory.id, "upsert", memory.updated_at) for memory in memories]
        )


class Outbox(Part):
    """Reading and clearing the index queue."""

    def pending_index(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(memory_id, op) pairs whose vector change is not yet confirmed, oldest first."""
        sql = "SELECT memory_id, op FROM index_queue ORDER BY queued_at, memory_id"
        rows = self._read(sql + (f" LIMIT {int(limit)}" if limit else ""))
        return [(row[0], row[1]) for row in rows]

    def count_pending(self) -> int:
        return self._read("SELECT count(*) FROM index_queue")[0][0]

    def mark_indexed(self, entries: Sequence[tuple[str, str]]) -> None:
        """Clear queue entries, but only if no newer operation replaced them meanwhile."""
        if not entries:
            return
        ids, ops = [e[0] for e in entries], [e[1] for e in entries]
        self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM index_queue q USING unnest(%s::text[], %s::text[]) AS e(id, op) "
                "WHERE q.memory_id = e.id AND q.op = e.op",
                (ids, ops),
            )
        )

    def requeue_all(self) -> int:
        """Queue an upsert of every memory, atomically (the vector index is being rebuilt)."""
        return self.db.statement(
            "INSERT INTO index_queue (memory_id, op, queued_at) "
            "SELECT id, 'upsert', updated_at FROM memories "
            "ON CONFLICT (memory_id) DO UPDATE SET op = 'upsert'"
        )

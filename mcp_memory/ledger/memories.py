"""Writing memories: each write stores the row, its history event and its index-queue entry
(``outbox``) in one transaction, so the three never disagree; and counting accesses."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from mcp_memory.clock import to_iso
from mcp_memory.ledger.connection import Connection, chunked, marks
from mcp_memory.ledger.outbox import enqueue, enqueue_upserts
from mcp_memory.ledger.rows import (
    COLUMNS,
    INSERT_EVENT,
    INSERT_MEMORY,
    delete_row,
    event_values,
    insert_row,
    insert_values,
    kept_event_values,
    record_event,
    to_memory,
    update_row,
)
from mcp_memory.models import EventKind, Memory
from mcp_memory.store.records import ImportRow

HASH_SCHEME = "content_hash_scheme"
"""The state key naming the rules the stored content hashes follow (``rehash``)."""

PRUNE_EVERY = 1000
"""Touches between two prunings of the access log (consolidation runs prune it too)."""


class MemoryWriter(Connection):
    """Adding, merging, saving, deleting and importing memories; counting their accesses."""

    access_log_days: float = 7.0
    """Access times older than this are pruned (every ``PRUNE_EVERY`` touches, and at each
    consolidation run); the factory sets it to the access-boost window."""
    _touches: int = 0

    def insert_unless_duplicate(self, memory: Memory, content_hash: str) -> Memory | None:
        """Store a new memory with its ADD event and index entry, atomically.

        Returns the existing memory instead, storing nothing, when the same normalised text
        already exists in exactly this scope (checked inside the write transaction, so two
        processes adding the same text at once still store it once).
        """
        with self.transaction() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM memories WHERE content_hash = ? AND user_id = ? "
                "AND agent_id = ? AND session_id = ? ORDER BY seq LIMIT 1",
                (content_hash, *memory.scope.key()),
            ).fetchone()
            if row is not None:
                return to_memory(row)
            insert_row(conn, memory, content_hash)
            record_event(conn, memory, EventKind.ADD, memory.created_at, None)
            enqueue(conn, memory.id, "upsert", memory.updated_at)
            return None

    def merge(
        self,
        kept: Memory,
        content_hash: str,
        absorbed: Sequence[Memory],
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        """Fold absorbed memories into ``kept`` atomically; both sides' history names the other."""
        with self.transaction() as conn:
            update_row(conn, kept, content_hash)
            absorbed_ids = [m.id for m in absorbed]
            record_event(conn, kept, EventKind.MERGE, at, {**details, "absorbed": absorbed_ids})
            enqueue(conn, kept.id, "upsert", at)
            for memory in absorbed:
                delete_row(conn, memory.id)
                record_event(conn, memory, EventKind.MERGE, at, {**details, "merged_into": kept.id})
                enqueue(conn, memory.id, "delete", at)

    def save(
        self,
        memory: Memory,
        content_hash: str,
        event: EventKind,
        details: dict[str, Any] | None = None,
        reindex: bool = False,
    ) -> None:
        """Overwrite a memory's row and record the event; queue it for the index if asked."""
        with self.transaction() as conn:
            update_row(conn, memory, content_hash)
            record_event(conn, memory, event, memory.updated_at, details)
            if reindex:
                enqueue(conn, memory.id, "upsert", memory.updated_at)

    def delete(self, memory: Memory, at: datetime, details: dict[str, Any] | None = None) -> None:
        """Remove a memory, keep its DELETE event, queue the vector's removal."""
        with self.transaction() as conn:
            delete_row(conn, memory.id)
            record_event(conn, memory, EventKind.DELETE, at, details)
            enqueue(conn, memory.id, "delete", at)

    def touch(self, ids: Sequence[str], at: datetime) -> None:
        """Count an access for each id (search hits and gets)."""
        if not ids:
            return
        with self.transaction() as conn:
            rows = [(to_iso(at), memory_id) for memory_id in ids]
            conn.executemany(
                "UPDATE memories SET access_count = access_count + 1, last_accessed = ? "
                "WHERE id = ?",
                rows,
            )
            conn.executemany("INSERT INTO access_log (at, memory_id) VALUES (?, ?)", rows)
            self._touches += 1
            if self._touches % PRUNE_EVERY == 0:
                cutoff = at - timedelta(days=self.access_log_days)
                conn.execute("DELETE FROM access_log WHERE at < ?", (to_iso(cutoff),))

    def import_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """Store a batch of memories in one transaction; returns, per row, None if stored.

        A row whose id is already stored is skipped (its id is returned), so importing the same
        file twice changes nothing; a row with ``dedupe`` set is also skipped when the same
        normalised text exists in its scope (the existing id is returned), as ``add`` does.
        Each stored memory gets its history (or an ADD event) and an index-queue entry.
        """
        with self.transaction() as conn:
            present = _present_ids(conn, [row.memory.id for row in rows])
            seen: dict[tuple[str, str, str, str], str] = {}
            outcome: list[str | None] = []
            stored: list[ImportRow] = []
            for row in rows:
                memory = row.memory
                key = (row.content_hash, *memory.scope.key())
                if memory.id in present:
                    outcome.append(memory.id)
                    continue
                if row.dedupe and (dup := seen.get(key) or _same_text(conn, key)):
                    outcome.append(dup)
                    continue
                present.add(memory.id)
                seen.setdefault(key, memory.id)
                stored.append(row)
                outcome.append(None)
            conn.executemany(
                INSERT_MEMORY, [insert_values(row.memory, row.content_hash) for row in stored]
            )
            _import_history(conn, stored)
            enqueue_upserts(conn, [row.memory for row in stored])
        return outcome

    def rehash(self, content_hash: Callable[[str], str], scheme: str) -> int:
        """Recompute every stored content hash with ``content_hash`` unless the store records
        ``scheme`` as the one they follow, then record it; one transaction. Returns how many
        hashes changed."""
        if self._read("SELECT 1 FROM state WHERE key = ? AND value = ?", (HASH_SCHEME, scheme)):
            return 0
        with self.transaction() as conn:
            done = conn.execute("SELECT value FROM state WHERE key = ?", (HASH_SCHEME,)).fetchone()
            if done is not None and done[0] == scheme:
                return 0  # another process did it meanwhile
            rows = conn.execute("SELECT seq, content, content_hash FROM memories").fetchall()
            changed = [(new, seq) for seq, text, old in rows if (new := content_hash(text)) != old]
            conn.executemany("UPDATE memories SET content_hash = ? WHERE seq = ?", changed)
            conn.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (HASH_SCHEME, scheme),
            )
        return len(changed)


def _present_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
    present: set[str] = set()
    for chunk in chunked(ids):
        sql = f"SELECT id FROM memories WHERE id IN ({marks(len(chunk))})"
        present.update(row[0] for row in conn.execute(sql, chunk))
    return present


def _same_text(conn: sqlite3.Connection, key: tuple[str, str, str, str]) -> str | None:
    row = conn.execute(
        "SELECT id FROM memories WHERE content_hash = ? AND user_id = ? AND agent_id = ? "
        "AND session_id = ? ORDER BY seq LIMIT 1",
        key,
    ).fetchone()
    return row[0] if row else None


def _import_history(conn: sqlite3.Connection, rows: Sequence[ImportRow]) -> None:
    """The rows' exported history (events already recorded are not repeated), or ADD."""
    known = _history_keys(conn, [row.memory.id for row in rows if row.history])
    events = []
    for row in rows:
        memory = row.memory
        if not row.history:
            events.append(event_values(memory, EventKind.ADD, memory.created_at, None))
            continue
        for ev in row.history:
            if (memory.id, ev.event.value, to_iso(ev.at)) in known:
                continue
            events.append(kept_event_values(memory.id, ev))
    conn.executemany(INSERT_EVENT, events)


def _history_keys(conn: sqlite3.Connection, ids: Sequence[str]) -> set[tuple[str, str, str]]:
    keys: set[tuple[str, str, str]] = set()
    for chunk in chunked(ids):
        sql = f"SELECT memory_id, event, at FROM history WHERE memory_id IN ({marks(len(chunk))})"
        keys.update((r[0], r[1], r[2]) for r in conn.execute(sql, chunk))
    return keys

"""Writing memories: each write stores the row, its history event and its index-queue entry
(``outbox``) in one transaction, so the three never disagree; and counting accesses.

The same contract as the SQLite ledger (``mcp_memory.ledger.memories``). Two servers adding
the same text to a scope at once meet on the unique index over (scope, content hash, twin):
the second waits for the first to commit, stores nothing and returns the first.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from mcp_memory.clock import to_iso
from mcp_memory.errors import StoreUnavailable
from mcp_memory.models import EventKind, Memory
from mcp_memory.postgres.database import Conn, Part, lock
from mcp_memory.postgres.outbox import enqueue, enqueue_upserts
from mcp_memory.postgres.rows import (
    COLUMNS,
    INSERT_EVENT,
    delete_row,
    event_values,
    insert_values,
    kept_event_values,
    record_event,
    scope_key,
    to_memory,
    update_row,
)
from mcp_memory.store.records import ImportRow

logger = logging.getLogger(__name__)

HASH_SCHEME = "content_hash_scheme"
"""The state key naming the rules the stored content hashes follow (``rehash``)."""

PRUNE_EVERY = 1000
"""Touches between two prunings of the access log (consolidation runs prune it too)."""

_SAME_TEXT = (
    f"SELECT {COLUMNS} FROM memories WHERE user_id = %s AND agent_id = %s AND session_id = %s "
    "AND content_hash = %s ORDER BY seq LIMIT 1"
)


_TOUCH = """
WITH locked AS (
    SELECT seq FROM memories WHERE id = ANY(%(ids)s) ORDER BY id FOR NO KEY UPDATE
), counted AS (
    UPDATE memories m SET access_count = m.access_count + t.n, last_accessed = %(at)s
    FROM unnest(%(ids)s::text[], %(counts)s::int[]) AS t(id, n)
    WHERE m.id = t.id AND m.seq IN (SELECT seq FROM locked)
    RETURNING 1
)
INSERT INTO access_log (memory_id, at)
SELECT unnest(%(all)s::text[]), %(at)s WHERE (SELECT count(*) FROM counted) >= 0
    AND set_config('synchronous_commit', 'off', true) IS NOT NULL
"""
"""Count accesses and log them, in one statement. Access counts are statistics, so this
transaction alone commits without waiting for its log record to reach the disk
(``synchronous_commit`` off): a crash of the database server may lose the last moments of
them, never a memory, and every search waits for one disk flush less."""


_ADD_KEYS = ("content_hash", "twin", *(c.strip() for c in COLUMNS.split(",")))
_EVENT_KEYS = tuple(f"event_{n}" for n in range(7))
_ADD = f"""
WITH same AS (
    SELECT {COLUMNS} FROM memories WHERE user_id = %(user_id)s AND agent_id = %(agent_id)s
        AND session_id = %(session_id)s AND content_hash = %(content_hash)s
    ORDER BY seq LIMIT 1
), stored AS (
    INSERT INTO memories (content_hash, twin, {COLUMNS})
    SELECT {", ".join(f"%({key})s" for key in _ADD_KEYS)} WHERE NOT EXISTS (SELECT 1 FROM same)
    ON CONFLICT (user_id, agent_id, session_id, content_hash, twin) DO NOTHING
    RETURNING id, updated_at
), event AS (
    INSERT INTO history (memory_id, event, at, content, metadata, importance, details)
    SELECT {", ".join(f"%({key})s" for key in _EVENT_KEYS)} FROM stored
), queued AS (
    INSERT INTO index_queue (memory_id, op, queued_at) SELECT id, 'upsert', updated_at
    FROM stored ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op,
        queued_at = excluded.queued_at
)
SELECT (SELECT count(*) FROM stored), same.* FROM (SELECT 1) AS one LEFT JOIN same ON TRUE
"""
"""An add in one statement (one round trip): the memory of the same text in the scope if
there is one, else the new row with its ADD event and outbox entry."""


_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "float8", "text", "text", "int", "timestamptz", "timestamptz", "timestamptz", "int",
)  # fmt: skip
_INSERT_MANY = (
    f"INSERT INTO memories (content_hash, twin, {COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _TYPES)
    + ")"
)
"""A batch of rows (``insert_values`` of each, by column) in one statement: the statement
triggers (the store's word counts) run once for the batch."""


class MemoryWriter(Part):
    """Adding, merging, saving, deleting and importing memories; counting their accesses."""

    access_log_days: float = 7.0
    """Access times older than this are pruned (every ``PRUNE_EVERY`` touches, and at each
    consolidation run); the factory sets it to the access-boost window."""
    _touches: int = 0
    _counting: Counting
    """Access counts being written after the reply; created by ``PostgresLedger``."""

    def insert_unless_duplicate(self, memory: Memory, content_hash: str) -> Memory | None:
        """Store a new memory with its ADD event and index entry, atomically; or return the
        memory of the same text in exactly this scope, storing nothing (a concurrent add of
        the same text on another server waits on the unique index, then returns this one)."""
        same = (*scope_key(memory), content_hash)
        values = dict(zip(_ADD_KEYS, insert_values(memory, content_hash, twin=""), strict=True))
        event = event_values(memory, EventKind.ADD, memory.created_at, None)
        params = {**values, **dict(zip(_EVENT_KEYS, event, strict=True))}
        row = self.db.run_statement(_ADD, params)
        if row[0]:
            return None
        if row[1] is not None:
            return to_memory(row[1:])
        # Another server's add of this text committed while this one waited on the unique
        # index: this statement's snapshot predates it, the next one sees it.
        return to_memory(self._read(_SAME_TEXT, same)[0])

    def merge(
        self,
        kept: Memory,
        content_hash: str,
        absorbed: Sequence[Memory],
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        """Fold absorbed memories into ``kept`` atomically; both sides' history names the other."""

        def fold(conn: Conn) -> None:
            update_row(conn, kept, content_hash)
            absorbed_ids = [m.id for m in absorbed]
            record_event(conn, kept, EventKind.MERGE, at, {**details, "absorbed": absorbed_ids})
            enqueue(conn, kept.id, "upsert", at)
            for memory in absorbed:
                delete_row(conn, memory.id)
                record_event(conn, memory, EventKind.MERGE, at, {**details, "merged_into": kept.id})
                enqueue(conn, memory.id, "delete", at)

        self.db.write(fold)

    def save(
        self,
        memory: Memory,
        content_hash: str,
        event: EventKind,
        details: dict[str, Any] | None = None,
        reindex: bool = False,
    ) -> None:
        """Overwrite a memory's row and record the event; queue it for the index if asked."""

        def overwrite(conn: Conn) -> None:
            update_row(conn, memory, content_hash)
            record_event(conn, memory, event, memory.updated_at, details)
            if reindex:
                enqueue(conn, memory.id, "upsert", memory.updated_at)

        self.db.write(overwrite)

    def delete(self, memory: Memory, at: datetime, details: dict[str, Any] | None = None) -> None:
        """Remove a memory, keep its DELETE event, queue the vector's removal."""

        def remove(conn: Conn) -> None:
            delete_row(conn, memory.id)
            record_event(conn, memory, EventKind.DELETE, at, details)
            enqueue(conn, memory.id, "delete", at)

        self.db.write(remove)

    def touch(self, ids: Sequence[str], at: datetime) -> None:
        """Count an access for each id (search hits and gets), on the counting thread: the
        reply does not wait for it (``Counting``). One statement, one round trip; the rows
        are locked in id order first, so concurrent searches touching the same memories
        queue instead of deadlocking. Inside a held transaction, counted in it, now."""
        if not ids:
            return
        if self.db.holding():
            self._touch(ids, at)
        else:
            self._counting.submit(lambda: self._touch(ids, at))

    def _settle(self) -> None:
        self._counting.settle()

    def _touch(self, ids: Sequence[str], at: datetime) -> None:
        counts = Counter(ids)
        order = sorted(counts)
        self.db.statement(
            _TOUCH,
            {"ids": order, "counts": [counts[i] for i in order], "all": list(ids), "at": at},
        )
        self._touches += 1
        if self._touches % PRUNE_EVERY == 0:
            cutoff = at - timedelta(days=self.access_log_days)
            self.db.statement("DELETE FROM access_log WHERE at < %s", (cutoff,))

    def import_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """Store a batch of memories in one transaction; returns, per row, None if stored.

        A row whose id is already stored is skipped (its id is returned), so importing the same
        file twice changes nothing; a row with ``dedupe`` set is also skipped when the same
        normalised text exists in its scope (the existing id is returned), as ``add`` does.
        Each stored memory gets its history (or an ADD event) and an index-queue entry.
        """
        return self.db.write(lambda conn: _import(conn, rows))

    def rehash(self, content_hash: Callable[[str], str], scheme: str) -> int:
        """Recompute every stored content hash with ``content_hash`` unless the store records
        ``scheme`` as the one they follow, then record it; one transaction, by one server
        (the others wait on the lock, then find it done). Returns how many hashes changed."""
        done = "SELECT 1 FROM state WHERE key = %s AND value = %s"
        if self._read(done, (HASH_SCHEME, scheme)):
            return 0

        def recompute(conn: Conn) -> int:
            lock(conn, f"{self.db.schema}:rehash")
            if conn.execute(done, (HASH_SCHEME, scheme)).fetchone():
                return 0
            rows = conn.execute("SELECT seq, content, content_hash, twin FROM memories")
            changed = [
                (seq, new, twin == "")
                for seq, text, old, twin in rows.fetchall()
                if (new := content_hash(text)) != old
            ]
            _rehashed(conn, changed)
            conn.execute(
                "INSERT INTO state (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (HASH_SCHEME, scheme),
            )
            return len(changed)

        return self.db.write(recompute)


def _rehashed(conn: Conn, changed: Sequence[tuple[int, str, bool]]) -> None:
    """Store new hashes (seq, hash, stored by an add). Texts that the new rules make one
    would meet on the unique index: each changed row first becomes its own twin, then, of an
    add's rows, the first of each text and scope takes the add's place again unless another
    memory holds it (so a later add of that text finds them, and two never collide)."""
    if not changed:
        return
    seqs = [seq for seq, _, _ in changed]
    conn.execute(
        "UPDATE memories m SET content_hash = c.hash, twin = m.id "
        "FROM unnest(%s::bigint[], %s::text[]) AS c(seq, hash) WHERE m.seq = c.seq",
        (seqs, [new for _, new, _ in changed]),
    )
    conn.execute(
        "UPDATE memories m SET twin = '' WHERE m.seq IN ("
        "  SELECT DISTINCT ON (user_id, agent_id, session_id, content_hash) seq FROM memories"
        "  WHERE seq = ANY(%s) ORDER BY user_id, agent_id, session_id, content_hash, seq"
        ") AND NOT EXISTS (SELECT 1 FROM memories o WHERE (o.user_id, o.agent_id, o.session_id,"
        " o.content_hash, o.twin) = (m.user_id, m.agent_id, m.session_id, m.content_hash, ''))",
        ([seq for seq, _, by_add in changed if by_add],),
    )


def _import(conn: Conn, rows: Sequence[ImportRow]) -> list[str | None]:
    present = {
        row[0]
        for row in conn.execute(
            "SELECT id FROM memories WHERE id = ANY(%s)", ([row.memory.id for row in rows],)
        )
    }
    seen: dict[tuple[str, str, str, str], str] = {}
    outcome: list[str | None] = []
    stored: list[ImportRow] = []
    for row in rows:
        memory = row.memory
        key = (*scope_key(memory), row.content_hash)
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
    if stored:
        values = [insert_values(row.memory, row.content_hash) for row in stored]
        conn.execute(_INSERT_MANY, [list(column) for column in zip(*values, strict=True)])
        _import_history(conn, stored)
        enqueue_upserts(conn, [row.memory for row in stored])
    return outcome


def _same_text(conn: Conn, key: tuple[str, str, str, str]) -> str | None:
    row = conn.execute(_SAME_TEXT, key).fetchone()
    return row[0] if row else None


def _import_history(conn: Conn, rows: Sequence[ImportRow]) -> None:
    """The rows' exported history (events already recorded are not repeated), or ADD."""
    with_history = [row.memory.id for row in rows if row.history]
    known = {
        (r[0], r[1], to_iso(r[2]))
        for r in conn.execute(
            "SELECT memory_id, event, at FROM history WHERE memory_id = ANY(%s)", (with_history,)
        )
    }
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
    if events:
        conn.cursor().executemany(INSERT_EVENT, events)


class Counting:
    """Access counts written after the reply, in order, on one thread of their own: they are
    statistics (already committed without waiting for the log flush), and writing them took
    1.4 ms of every search. This process reads its own counts: every read of memory rows or
    access times first waits for those submitted before it (``settle``); other servers see
    them a moment later. A count that cannot be written is logged, as it was when written in
    line (a search does not fail for its statistics)."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="access-counts")
        self._latest: Future[None] | None = None
        self._lock = threading.Lock()

    def submit(self, count: Callable[[], None]) -> None:
        with self._lock:
            self._latest = self._thread.submit(_logged, count)

    def settle(self) -> None:
        """Until the counts submitted so far are written (or have failed)."""
        latest = self._latest
        if latest is not None and not latest.done():
            wait([latest])

    def close(self) -> None:
        self._thread.shutdown(wait=True)


def _logged(count: Callable[[], None]) -> None:
    try:
        count()
    except StoreUnavailable as exc:
        logger.warning("access counts not recorded: %s", exc)
    except Exception:
        logger.exception("access counts not recorded")

"""The ledger: SQLite, the source of truth for every memory, its history and the index queue.

This is the only module that writes SQL. The statements keep to what a second dialect
(PostgreSQL) can follow, so moving the ledger touches this file alone; the SQLite-specific
parts are the FTS5 keyword index and ``json_extract`` for metadata filters.

Durability: WAL mode, a busy timeout so several processes can share the file, and one
transaction per logical write. Every write that must reach the vector index also records an
entry in ``index_queue`` in the same transaction (an outbox): if the process dies before the
vector store is updated, start-up finds the entry and finishes the job, so the index never
silently drifts from the ledger.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from mcp_memory.clock import from_iso, to_iso
from mcp_memory.errors import Conflict
from mcp_memory.lru import Bounded
from mcp_memory.models import EventKind, HistoryEvent, ListOrder, Memory, Scope, Stage
from mcp_memory.store.records import (
    CandidateRow,
    ImportRow,
    JournalEntry,
    MemoryFilter,
    RowWrite,
    RunRecord,
    Session,
)

# Applied in list order; a store records how many it has applied (PRAGMA user_version), so a
# new migration is appended at the end and existing ones are never reordered or edited.
MIGRATIONS: list[str] = [
    # 1: memories, their history, the index outbox, key/value state.
    """
    CREATE TABLE memories (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        user_id TEXT NOT NULL DEFAULT '',
        agent_id TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL DEFAULT '',
        memory_type TEXT NOT NULL,
        category TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}',
        importance_score REAL NOT NULL,
        retention TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        access_count INTEGER NOT NULL DEFAULT 0,
        last_accessed TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX ix_memories_user ON memories(user_id, agent_id, session_id);
    CREATE INDEX ix_memories_agent ON memories(agent_id);
    CREATE INDEX ix_memories_session ON memories(session_id, created_at);
    CREATE INDEX ix_memories_created ON memories(created_at);
    CREATE INDEX ix_memories_importance ON memories(importance_score);
    CREATE INDEX ix_memories_stage ON memories(lifecycle_stage);
    CREATE INDEX ix_memories_hash ON memories(content_hash);
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        memory_id TEXT NOT NULL,
        event TEXT NOT NULL,
        at TEXT NOT NULL,
        content TEXT,
        metadata TEXT,
        importance REAL,
        details TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX ix_history_memory ON history(memory_id, seq);
    CREATE TABLE index_queue (
        memory_id TEXT PRIMARY KEY,
        op TEXT NOT NULL,
        queued_at TEXT NOT NULL
    );
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: a stemmed keyword index over the content, kept in step by triggers.
    """
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, content='memories', content_rowid='seq', tokenize='porter unicode61'
    );
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, content) VALUES (new.seq, new.content);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.seq, old.content);
        INSERT INTO memories_fts(rowid, content) VALUES (new.seq, new.content);
    END;
    INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');
    """,
    # 3: lifecycle: an access log (for the access boost, pruned by age) and the consolidation
    # journal: each run, and for each memory it touched the full prior row, for undo.
    """
    CREATE TABLE access_log (memory_id TEXT NOT NULL, at TEXT NOT NULL);
    CREATE INDEX ix_access_log ON access_log(memory_id, at);
    CREATE INDEX ix_access_log_at ON access_log(at);
    CREATE TABLE consolidation_runs (
        run_id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        scope TEXT NOT NULL,
        counts TEXT NOT NULL,
        summary TEXT NOT NULL,
        undone_at TEXT
    );
    CREATE INDEX ix_runs_at ON consolidation_runs(at);
    CREATE TABLE consolidation_journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        memory_id TEXT NOT NULL,
        prior TEXT NOT NULL,
        final_version INTEGER,
        final_access_count INTEGER
    );
    CREATE INDEX ix_journal_run ON consolidation_journal(run_id, seq);
    """,
    # 4: a change counter for the vector index, read by every process sharing this data dir
    # (index_guard.py). Idempotent, so its place among other helpers' migrations does not matter.
    """
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) VALUES ('index_generation', 0) ON CONFLICT (name) DO NOTHING;
    """,
    # 5: running counts for stats and counts, kept by triggers, so stats at 100k
    # memories reads a few hundred rows instead of scanning the table (updates that only touch
    # access counts do not fire them); an index for searches within a user's session.
    """
    CREATE TABLE memory_counts (
        user_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        memory_type TEXT NOT NULL,
        category TEXT NOT NULL,
        lifecycle_stage TEXT NOT NULL,
        retention TEXT NOT NULL,
        n INTEGER NOT NULL,
        importance_sum REAL NOT NULL,
        PRIMARY KEY (user_id, agent_id, memory_type, category, lifecycle_stage, retention)
    ) WITHOUT ROWID;
    CREATE TRIGGER memory_counts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memory_counts VALUES (new.user_id, new.agent_id, new.memory_type,
            new.category, new.lifecycle_stage, new.retention, 1, new.importance_score)
        ON CONFLICT DO UPDATE SET n = n + 1, importance_sum = importance_sum + excluded.importance_sum;
    END;
    CREATE TRIGGER memory_counts_delete AFTER DELETE ON memories BEGIN
        UPDATE memory_counts SET n = n - 1, importance_sum = importance_sum - old.importance_score
        WHERE user_id = old.user_id AND agent_id = old.agent_id AND memory_type = old.memory_type
            AND category = old.category AND lifecycle_stage = old.lifecycle_stage
            AND retention = old.retention;
    END;
    CREATE TRIGGER memory_counts_update AFTER UPDATE OF user_id, agent_id, memory_type, category,
        lifecycle_stage, retention, importance_score ON memories BEGIN
        UPDATE memory_counts SET n = n - 1, importance_sum = importance_sum - old.importance_score
        WHERE user_id = old.user_id AND agent_id = old.agent_id AND memory_type = old.memory_type
            AND category = old.category AND lifecycle_stage = old.lifecycle_stage
            AND retention = old.retention;
        INSERT INTO memory_counts VALUES (new.user_id, new.agent_id, new.memory_type,
            new.category, new.lifecycle_stage, new.retention, 1, new.importance_score)
        ON CONFLICT DO UPDATE SET n = n + 1, importance_sum = importance_sum + excluded.importance_sum;
    END;
    CREATE INDEX ix_memories_user_session ON memories(user_id, session_id, lifecycle_stage);
    INSERT INTO memory_counts
        SELECT user_id, agent_id, memory_type, category, lifecycle_stage, retention, COUNT(*),
            SUM(importance_score)
        FROM memories GROUP BY user_id, agent_id, memory_type, category, lifecycle_stage, retention;
    """,
    # 6: the keyword index also holds each memory's scope as tokens (``owner``), so a search
    # within one user's scope reads that scope's postings instead of every user's
    # (``_in_scope``). It indexes a view, whose ``owner`` column the triggers read too.
    """
    DROP TRIGGER memories_fts_insert;
    DROP TRIGGER memories_fts_delete;
    DROP TRIGGER memories_fts_update;
    DROP TABLE memories_fts;
    CREATE VIEW memories_fts_source AS SELECT seq, content,
        'u' || hex(user_id) || 'x a' || hex(agent_id) || 'x s' || hex(session_id) || 'x' AS owner
        FROM memories;
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, owner, content='memories_fts_source', content_rowid='seq',
        tokenize='porter unicode61'
    );
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, content, owner)
            SELECT seq, content, owner FROM memories_fts_source WHERE seq = new.seq;
    END;
    CREATE TRIGGER memories_fts_delete BEFORE DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content, owner)
            SELECT 'delete', seq, content, owner FROM memories_fts_source WHERE seq = old.seq;
    END;
    CREATE TRIGGER memories_fts_unindex BEFORE UPDATE OF content, user_id, agent_id, session_id
        ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content, owner)
            SELECT 'delete', seq, content, owner FROM memories_fts_source WHERE seq = old.seq;
    END;
    CREATE TRIGGER memories_fts_reindex AFTER UPDATE OF content, user_id, agent_id, session_id
        ON memories BEGIN
        INSERT INTO memories_fts(rowid, content, owner)
            SELECT seq, content, owner FROM memories_fts_source WHERE seq = new.seq;
    END;
    INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');
    """,
    # 7: a version per session, raised by every change to a member (not by access counts), so
    # a search reads a session's members only when they may have changed (``Ledger.sessions``).
    """
    CREATE TABLE session_versions (
        user_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (user_id, agent_id, session_id)
    ) WITHOUT ROWID;
    CREATE TRIGGER session_versions_insert AFTER INSERT ON memories WHEN new.session_id <> ''
    BEGIN
        INSERT INTO session_versions VALUES (new.user_id, new.agent_id, new.session_id, 1)
        ON CONFLICT DO UPDATE SET version = version + 1;
    END;
    CREATE TRIGGER session_versions_delete AFTER DELETE ON memories WHEN old.session_id <> ''
    BEGIN
        UPDATE session_versions SET version = version + 1
        WHERE user_id = old.user_id AND agent_id = old.agent_id AND session_id = old.session_id;
    END;
    CREATE TRIGGER session_versions_update AFTER UPDATE OF content, user_id, agent_id,
        session_id, memory_type, category, metadata, importance_score, retention,
        lifecycle_stage, created_at, updated_at ON memories
    BEGIN
        UPDATE session_versions SET version = version + 1
        WHERE user_id = old.user_id AND agent_id = old.agent_id AND session_id = old.session_id;
        INSERT INTO session_versions SELECT new.user_id, new.agent_id, new.session_id, 1
        WHERE new.session_id <> ''
        ON CONFLICT DO UPDATE SET version = version + 1;
    END;
    INSERT INTO session_versions
        SELECT DISTINCT user_id, agent_id, session_id, 1 FROM memories WHERE session_id <> '';
    """,
    # 8: the scope index also holds what a session's member list reads (``_read_members``), in
    # member order: reading a hundred sessions' members took 25-34 ms at 100k memories through
    # the rows, 5-7 ms from this index alone.
    """
    DROP INDEX IF EXISTS ix_memories_user;
    CREATE INDEX IF NOT EXISTS ix_memories_scope
        ON memories(user_id, agent_id, session_id, created_at, lifecycle_stage, id);
    """,
    # 9: each session's order verdict (``sessions.SessionOrders``), kept across restarts and
    # shared by processes; ``judged`` names what it was computed from (session version, gap,
    # members), so a stale verdict is simply not used.
    """
    CREATE TABLE IF NOT EXISTS session_orders (
        user_id TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        session_id TEXT NOT NULL,
        judged TEXT NOT NULL,
        score REAL,
        PRIMARY KEY (user_id, agent_id, session_id)
    ) WITHOUT ROWID;
    """,
    # 10: a generation of the keyword index, raised by every change to what it holds (not by
    # access counts), so a term's document count is read once per generation, in any process
    # (``Ledger.term_counts``).
    """
    INSERT INTO counters (name, value) VALUES ('keywords', 0) ON CONFLICT (name) DO NOTHING;
    CREATE TRIGGER IF NOT EXISTS keywords_insert AFTER INSERT ON memories BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'keywords';
    END;
    CREATE TRIGGER IF NOT EXISTS keywords_delete AFTER DELETE ON memories BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'keywords';
    END;
    CREATE TRIGGER IF NOT EXISTS keywords_update
        AFTER UPDATE OF content, user_id, agent_id, session_id ON memories BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'keywords';
    END;
    """,
]

_PRUNE_EVERY = 1000

_COLUMNS = (
    "id, content, user_id, agent_id, session_id, memory_type, category, metadata, "
    "importance_score, retention, lifecycle_stage, access_count, last_accessed, "
    "created_at, updated_at, version"
)

_ORDER_SQL = {
    ListOrder.created: "created_at DESC, seq DESC",
    ListOrder.updated: "updated_at DESC, seq DESC",
    ListOrder.importance: "importance_score DESC, created_at DESC",
    ListOrder.accessed: "last_accessed IS NULL, last_accessed DESC, access_count DESC",
}


def _in_scope(match: str, scope: Scope) -> str:
    """An FTS5 query for ``match`` in the content of the scope's memories only.

    Each scope id is one token, ``u``/``a``/``s`` + the hex of its UTF-8 bytes + ``x`` (no
    stemming rule ends in x): two ids never share a token, so the match is exact, and the
    index reads only the scope's postings."""
    tokens = [
        f'owner : "{prefix}{value.encode().hex()}x"'
        for prefix, value in zip(
            "uas", (scope.user_id, scope.agent_id, scope.session_id), strict=True
        )
        if value is not None
    ]
    return " AND ".join([f"content : ({match})", *tokens])


def _counts_cover(flt: MemoryFilter) -> bool:
    """Whether ``memory_counts`` can answer for this filter (a user and/or agent scope only)."""
    return flt == MemoryFilter(scope=flt.scope) and flt.scope.session_id is None


def _counts_answer(flt: MemoryFilter) -> bool:
    """Whether ``memory_counts`` holds every column this filter tests."""
    return (
        flt.scope.session_id is None
        and not flt.metadata
        and flt.since is None
        and flt.until is None
    )


def render(flt: MemoryFilter) -> tuple[str, list[Any]]:
    """The SQL condition of a filter, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("user_id", "agent_id", "session_id"):
        value = getattr(flt.scope, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for column in ("memory_type", "category"):
        value = getattr(flt, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    for key, value in flt.metadata.items():
        clauses.append("json_extract(metadata, ?) = ?")
        params.extend([json_path(key), _sql_json_value(value)])
    if flt.since is not None:
        clauses.append("created_at >= ?")
        params.append(to_iso(flt.since))
    if flt.until is not None:
        clauses.append("created_at <= ?")
        params.append(to_iso(flt.until))
    if flt.stages is not None:
        clauses.append(f"lifecycle_stage IN ({','.join('?' * len(flt.stages))})")
        params.extend(flt.stages)
    if flt.exclude_stages:
        clauses.append(f"lifecycle_stage NOT IN ({','.join('?' * len(flt.exclude_stages))})")
        params.extend(flt.exclude_stages)
    return (" AND ".join(clauses) or "1=1"), params


def json_path(key: str) -> str:
    """A JSON path selecting one top-level key (keys are checked to hold no quote)."""
    return f'$."{key}"'


def _sql_json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


class Ledger:
    """SQLite access: one connection, serialised by a lock, shared by the service's threads."""

    access_log_days: float = 7.0
    """Access times older than this are pruned (every ``_PRUNE_EVERY`` touches, and at each
    consolidation run); the factory sets it to the access-boost window."""
    _touches: int = 0

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._members = Bounded(capacity=4096)
        self._term_counts = Bounded(capacity=4096)
        self._conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

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

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def migrate(self) -> None:
        """Apply the migrations this file has not yet applied; safe to call at every start."""
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return self._read("PRAGMA user_version")[0][0]

    # -- writes ------------------------------------------------------------------------------

    def insert_unless_duplicate(self, memory: Memory, content_hash: str) -> Memory | None:
        """Store a new memory with its ADD event and index entry, atomically.

        Returns the existing memory instead, storing nothing, when the same normalised text
        already exists in exactly this scope (checked inside the write transaction, so two
        processes adding the same text at once still store it once).
        """
        with self.transaction() as conn:
            user, agent, session = (
                memory.user_id or "",
                memory.agent_id or "",
                memory.session_id or "",
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM memories WHERE content_hash = ? AND user_id = ? "
                "AND agent_id = ? AND session_id = ? ORDER BY seq LIMIT 1",
                (content_hash, user, agent, session),
            ).fetchone()
            if row is not None:
                return _to_memory(row)
            self._insert(conn, memory, content_hash)
            return None

    def _insert(self, conn: sqlite3.Connection, memory: Memory, content_hash: str) -> None:
        conn.execute(
            f"INSERT INTO memories (content_hash, {_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (content_hash, *_row_values(memory)),
        )
        self._event(conn, memory, EventKind.ADD, memory.created_at, None)
        self._enqueue(conn, memory.id, "upsert", memory.updated_at)

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
            self._update_row(conn, kept, content_hash)
            absorbed_ids = [m.id for m in absorbed]
            self._event(conn, kept, EventKind.MERGE, at, {**details, "absorbed": absorbed_ids})
            self._enqueue(conn, kept.id, "upsert", at)
            for memory in absorbed:
                conn.execute("DELETE FROM memories WHERE id = ?", (memory.id,))
                self._event(conn, memory, EventKind.MERGE, at, {**details, "merged_into": kept.id})
                self._enqueue(conn, memory.id, "delete", at)

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
            self._update_row(conn, memory, content_hash)
            self._event(conn, memory, event, memory.updated_at, details)
            if reindex:
                self._enqueue(conn, memory.id, "upsert", memory.updated_at)

    def delete(self, memory: Memory, at: datetime, details: dict[str, Any] | None = None) -> None:
        """Remove a memory, keep its DELETE event, queue the vector's removal."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM memories WHERE id = ?", (memory.id,))
            self._event(conn, memory, EventKind.DELETE, at, details)
            self._enqueue(conn, memory.id, "delete", at)

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
            if self._touches % _PRUNE_EVERY == 0:
                cutoff = at - timedelta(days=self.access_log_days)
                conn.execute("DELETE FROM access_log WHERE at < ?", (to_iso(cutoff),))

    def _update_row(self, conn: sqlite3.Connection, memory: Memory, content_hash: str) -> None:
        values = _row_values(memory)
        conn.execute(
            "UPDATE memories SET content = ?, content_hash = ?, user_id = ?, agent_id = ?, "
            "session_id = ?, memory_type = ?, category = ?, metadata = ?, importance_score = ?, "
            "retention = ?, lifecycle_stage = ?, access_count = ?, last_accessed = ?, "
            "created_at = ?, updated_at = ?, version = ? WHERE id = ?",
            (values[1], content_hash, *values[2:], memory.id),
        )

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        memory: Memory,
        event: EventKind,
        at: datetime,
        details: dict[str, Any] | None,
    ) -> None:
        conn.execute(
            "INSERT INTO history (memory_id, event, at, content, metadata, importance, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            _event_values(memory, event, at, details),
        )

    @staticmethod
    def _enqueue(conn: sqlite3.Connection, memory_id: str, op: str, at: datetime) -> None:
        conn.execute(
            "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, ?, ?) "
            "ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op, queued_at = excluded.queued_at",
            (memory_id, op, to_iso(at)),
        )

    # -- bulk: import and export --------------------------------------------------------------

    def import_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """Store a batch of memories in one transaction; returns, per row, None if stored.

        A row whose id is already stored is skipped (its id is returned), so importing the same
        file twice changes nothing; a row with ``dedupe`` set is also skipped when the same
        normalised text exists in its scope (the existing id is returned), as ``add`` does.
        Each stored memory gets its history (or an ADD event) and an index-queue entry.
        """
        with self.transaction() as conn:
            present = self._present_ids(conn, [row.memory.id for row in rows])
            seen: dict[tuple[str, str, str, str], str] = {}
            outcome: list[str | None] = []
            stored: list[ImportRow] = []
            for row in rows:
                memory = row.memory
                key = (row.content_hash, *_scope_key(memory))
                if memory.id in present:
                    outcome.append(memory.id)
                    continue
                if row.dedupe and (dup := seen.get(key) or self._same_text(conn, key)):
                    outcome.append(dup)
                    continue
                present.add(memory.id)
                seen.setdefault(key, memory.id)
                stored.append(row)
                outcome.append(None)
            conn.executemany(
                f"INSERT INTO memories (content_hash, {_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(row.content_hash, *_row_values(row.memory)) for row in stored],
            )
            self._import_history(conn, stored)
            conn.executemany(
                "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, 'upsert', ?) "
                "ON CONFLICT (memory_id) DO UPDATE SET op = excluded.op, "
                "queued_at = excluded.queued_at",
                [(row.memory.id, to_iso(row.memory.updated_at)) for row in stored],
            )
        return outcome

    @staticmethod
    def _present_ids(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
        present: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            sql = f"SELECT id FROM memories WHERE id IN ({','.join('?' * len(chunk))})"
            present.update(row[0] for row in conn.execute(sql, chunk))
        return present

    @staticmethod
    def _same_text(conn: sqlite3.Connection, key: tuple[str, str, str, str]) -> str | None:
        row = conn.execute(
            "SELECT id FROM memories WHERE content_hash = ? AND user_id = ? AND agent_id = ? "
            "AND session_id = ? ORDER BY seq LIMIT 1",
            key,
        ).fetchone()
        return row[0] if row else None

    def _import_history(self, conn: sqlite3.Connection, rows: Sequence[ImportRow]) -> None:
        """The rows' exported history (events already recorded are not repeated), or ADD."""
        known = self._history_keys(conn, [row.memory.id for row in rows if row.history])
        events = []
        for row in rows:
            memory = row.memory
            if not row.history:
                events.append(_event_values(memory, EventKind.ADD, memory.created_at, None))
                continue
            for ev in row.history:
                if (memory.id, ev.event.value, to_iso(ev.at)) in known:
                    continue
                events.append(
                    (
                        memory.id,
                        ev.event.value,
                        to_iso(ev.at),
                        ev.content,
                        None if ev.metadata is None else json.dumps(ev.metadata, sort_keys=True),
                        ev.importance,
                        json.dumps(ev.details, sort_keys=True),
                    )
                )
        conn.executemany(
            "INSERT INTO history (memory_id, event, at, content, metadata, importance, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )

    @staticmethod
    def _history_keys(conn: sqlite3.Connection, ids: Sequence[str]) -> set[tuple[str, str, str]]:
        keys: set[tuple[str, str, str]] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            sql = (
                "SELECT memory_id, event, at FROM history "
                f"WHERE memory_id IN ({','.join('?' * len(chunk))})"
            )
            keys.update((r[0], r[1], r[2]) for r in conn.execute(sql, chunk))
        return keys

    def iter_memories(self, flt: MemoryFilter, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every matching memory in insertion order, a batch at a time (keyset pagination)."""
        where, params = render(flt)
        last = 0
        while True:
            rows = self._read(
                f"SELECT seq, {_COLUMNS} FROM memories WHERE seq > ? AND {where} "
                "ORDER BY seq LIMIT ?",
                [last, *params, batch],
            )
            if not rows:
                return
            last = rows[-1]["seq"]
            yield [_to_memory(row) for row in rows]

    def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The history of each of these ids, oldest first."""
        out: dict[str, list[HistoryEvent]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self._read(
                "SELECT memory_id, event, at, content, metadata, importance, details FROM history "
                f"WHERE memory_id IN ({','.join('?' * len(chunk))}) ORDER BY seq",
                chunk,
            )
            for row in rows:
                out[row["memory_id"]].append(_to_event(row))
        return out

    # -- the index outbox --------------------------------------------------------------------

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

    # -- shared counters and the keyword index's health ----------------------------------------

    def counter(self, name: str) -> int:
        """A counter's value (0 if it was never bumped); one indexed read, cheap on hot paths."""
        rows = self._read("SELECT value FROM counters WHERE name = ?", (name,))
        return rows[0][0] if rows else 0

    def bump_counter(self, name: str) -> int:
        """Add one to a counter and return the new value, atomically across processes."""
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                (name,),
            ).fetchone()
        return row[0]

    def keyword_index_ok(self, full: bool = True) -> bool:
        """Whether the FTS5 keyword index matches the memories it indexes.

        ``full`` runs FTS5's integrity check, which reads every posting inside a write
        transaction (0.3-0.5 s at 100k memories, blocking this connection meanwhile); otherwise
        only the number of indexed documents is compared with the number of memories (about a
        millisecond), which catches a document missing or left behind."""
        if not full:
            indexed, memories = self._read(
                "SELECT (SELECT COUNT(*) FROM memories_fts_docsize), (SELECT COUNT(*) FROM memories)"
            )[0]
            return indexed == memories
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO memories_fts(memories_fts, rank) VALUES ('integrity-check', 1)"
                )
        except sqlite3.DatabaseError:
            return False
        return True

    def rebuild_keyword_index(self) -> None:
        """Rebuild the FTS5 keyword index from the memories table."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')")
            conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'keywords'")

    # -- reads -------------------------------------------------------------------------------

    def get(self, memory_id: str) -> Memory | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        return _to_memory(rows[0]) if rows else None

    def get_many(self, ids: Sequence[str], flt: MemoryFilter | None = None) -> dict[str, Memory]:
        """The memories with these ids (that also pass the filter, if one is given)."""
        where, params = render(flt or MemoryFilter())
        found: dict[str, Memory] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            placeholders = ",".join("?" * len(chunk))
            sql = f"SELECT {_COLUMNS} FROM memories WHERE id IN ({placeholders}) AND {where}"
            found.update((row["id"], _to_memory(row)) for row in self._read(sql, [*chunk, *params]))
        return found

    def filter_ids(self, ids: Sequence[str], flt: MemoryFilter) -> set[str]:
        """The subset of ids whose memories exist and pass the filter."""
        where, params = render(flt)
        kept: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            placeholders = ",".join("?" * len(chunk))
            sql = f"SELECT id FROM memories WHERE id IN ({placeholders}) AND {where}"
            kept.update(row[0] for row in self._read(sql, [*chunk, *params]))
        return kept

    def query(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> tuple[list[Memory], int]:
        """One page of matching memories and the total count."""
        where, params = render(flt)
        total = self.count(flt)
        rows = self._read(
            f"SELECT {_COLUMNS} FROM memories WHERE {where} ORDER BY {_ORDER_SQL[order]} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_to_memory(row) for row in rows], total

    def count(self, flt: MemoryFilter) -> int:
        """How many memories match; from the running counts when they can tell (no scan)."""
        where, params = render(flt)
        if _counts_answer(flt):
            sql = f"SELECT COALESCE(SUM(n), 0) FROM memory_counts WHERE {where}"
        else:
            sql = f"SELECT COUNT(*) FROM memories WHERE {where}"
        return self._read(sql, params)[0][0]

    def ids(self, flt: MemoryFilter, limit: int | None = None) -> list[str]:
        where, params = render(flt)
        sql = f"SELECT id FROM memories WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row[0] for row in self._read(sql, params)]

    def all_memories(self, flt: MemoryFilter) -> list[Memory]:
        where, params = render(flt)
        sql = f"SELECT {_COLUMNS} FROM memories WHERE {where} ORDER BY created_at, seq"
        return [_to_memory(row) for row in self._read(sql, params)]

    def history(self, memory_id: str) -> list[HistoryEvent]:
        rows = self._read(
            "SELECT event, at, content, metadata, importance, details FROM history "
            "WHERE memory_id = ? ORDER BY seq",
            (memory_id,),
        )
        return [_to_event(row) for row in rows]

    def has_history(self, memory_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM history WHERE memory_id = ? LIMIT 1", (memory_id,)))

    def keyword_search(
        self, terms: Sequence[str], flt: MemoryFilter, limit: int, every: bool = False
    ) -> list[tuple[str, float]]:
        """(id, bm25 score) of the memories holding any of the terms (``every``: all of them),
        stemmed as the keyword index sees them, best first (higher is better).

        The keyword index ranks the scope's matches alone, reading no memory row; only its best
        are checked against the rest of the filter (stage, type, dates...), and more are
        fetched while too few pass. Joining every match to its row first cost 10 ms more at
        100k memories."""
        where, params = render(flt)
        match = (" AND " if every else " OR ").join(_quoted(t) for t in terms) or '""'
        query = _in_scope(match, flt.scope)
        fetch = limit + 8
        while True:
            ranked = self._read(
                "SELECT rowid, -bm25(memories_fts, 1, 0) FROM memories_fts "
                "WHERE memories_fts MATCH ? ORDER BY bm25(memories_fts, 1, 0) LIMIT ?",
                [query, fetch],
            )
            kept = dict(
                self._read(
                    "SELECT seq, id FROM memories "
                    f"WHERE seq IN (SELECT value FROM json_each(?)) AND {where}",
                    [json.dumps([row[0] for row in ranked]), *params],
                )
            )
            found = [(kept[row[0]], row[1]) for row in ranked if row[0] in kept]
            if len(found) >= limit or len(ranked) < fetch:
                return found[:limit]
            fetch *= 4

    def term_counts(self, terms: Sequence[str], scope: Scope) -> dict[str, int]:
        """How many of the scope's memories contain each term (stemmed, as the keyword index
        sees it): its document count.

        The count is over the whole scope, every stage, whatever other filters a search
        applies: a term's rarity is a property of the scope's vocabulary, and the keyword
        index answers it alone, without reading a row (at 100k memories, 1 ms for a query's
        terms instead of 40). Counts are kept per generation of the keyword index (migration
        10), so a term is counted again only after a memory was added, deleted or moved, or
        its text changed, by any process."""
        generation = self.counter("keywords")
        scoped = (scope.user_id, scope.agent_id, scope.session_id)
        counts = {}
        for term in terms:
            key = (generation, scoped, term)
            count = self._term_counts.get(key)
            if count is None:
                count = self._read(
                    "SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH ?",
                    [_in_scope(_quoted(term), scope)],
                )[0][0]
                self._term_counts.put(key, count)
            counts[term] = count
        return counts

    def term_hits(
        self, terms: Sequence[str], rows: Mapping[str, CandidateRow], scope: Scope
    ) -> dict[str, set[str]]:
        """Which of these candidates (those in the scope) contain each term, stemmed as the
        keyword index sees it."""
        id_of = {row.seq: memory_id for memory_id, row in rows.items()}
        among = json.dumps(list(id_of))
        hits: dict[str, set[str]] = {}
        for term in terms:
            # Joined on seq (the rowid), so no memory row is read for the matches walked.
            found = self._read(
                "SELECT m.seq FROM memories m, memories_fts f "
                "WHERE m.seq IN (SELECT value FROM json_each(?)) AND f.rowid = m.seq "
                "AND f.memories_fts MATCH ?",
                [among, _in_scope(_quoted(term), scope)],
            )
            hits[term] = {id_of[row[0]] for row in found}
        return hits

    def sessions(self, ids: Sequence[str], flt: MemoryFilter) -> list[Session]:
        """The sessions the given memories belong to, each with its members in order.

        A session is one (user, agent, session) scope with a session id, in ``created_at``
        order (insertion order breaks ties). Only memories passing the filter count, so a
        deleted or hidden memory leaves no gap. Memories without a session belong to none.
        Member lists are kept per session version (migration 7: raised by any change to a
        member, by any process), so a search reads only the sessions that changed.
        """
        if not ids:
            return []
        versions: dict[tuple[str, str, str], int] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            for user, agent, session, version in self._read(
                "SELECT DISTINCT m.user_id, m.agent_id, m.session_id, v.version "
                "FROM memories m JOIN session_versions v USING (user_id, agent_id, session_id) "
                f"WHERE m.id IN ({','.join('?' * len(chunk))}) AND m.session_id <> ''",
                chunk,
            ):
                versions[(user, agent, session)] = version
        view = repr(flt)
        found = {key: self._members.get((key, version, view)) for key, version in versions.items()}
        missing = sorted(key for key, members in found.items() if members is None)
        for key, members in self._read_members(missing, flt).items():
            found[key] = members
            self._members.put((key, versions[key], view), members)
        return [
            Session(key, members, str(versions[key]))
            for key, members in found.items()
            if members  # every member filtered out: no session to speak of
        ]

    def _read_members(
        self, keys: Sequence[tuple[str, str, str]], flt: MemoryFilter
    ) -> dict[tuple[str, str, str], tuple[str, ...]]:
        """The members of these sessions that pass the filter, oldest first."""
        where, params = render(flt)
        members: dict[tuple[str, str, str], list[str]] = {key: [] for key in keys}
        for start in range(0, len(keys), 300):
            keyed, values = _session_keys(keys[start : start + 300])
            rows = self._read(
                f"{keyed} SELECT user_id, agent_id, session_id, id FROM keys JOIN memories "
                f"ON user_id = u AND agent_id = a AND session_id = s WHERE {where} "
                "ORDER BY user_id, agent_id, session_id, created_at, seq",
                [*values, *params],
            )
            for user, agent, session, memory_id in rows:
                members[(user, agent, session)].append(memory_id)
        return {key: tuple(ids) for key, ids in members.items()}

    def session_orders(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], tuple[str, float | None]]:
        """The kept order verdicts of these sessions: (what was judged, score or None)."""
        found: dict[tuple[str, str, str], tuple[str, float | None]] = {}
        for start in range(0, len(keys), 300):
            keyed, values = _session_keys(keys[start : start + 300])
            for user, agent, session, judged, score in self._read(
                f"{keyed} SELECT user_id, agent_id, session_id, judged, score FROM keys "
                "JOIN session_orders ON user_id = u AND agent_id = a AND session_id = s",
                values,
            ):
                found[(user, agent, session)] = (judged, score)
        return found

    def keep_session_orders(
        self, verdicts: Sequence[tuple[tuple[str, str, str], str, float | None]]
    ) -> None:
        """Keep (session key, what was judged, score or None) verdicts, replacing older ones."""
        if verdicts:
            with self.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO session_orders VALUES (?, ?, ?, ?, ?)",
                    [(*key, judged, score) for key, judged, score in verdicts],
                )

    def candidates(self, ids: Sequence[str], flt: MemoryFilter) -> dict[str, CandidateRow]:
        """What ranking reads of each memory that passes the filter; lighter than ``get_many``
        (a search ranks hundreds of memories and returns ten)."""
        where, params = render(flt)
        found: dict[str, CandidateRow] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self._read(
                "SELECT id, content, importance_score, created_at, session_id, seq FROM memories "
                f"WHERE id IN ({marks}) AND {where}",
                [*chunk, *params],
            ):
                found[row[0]] = CandidateRow(row[1], row[2], from_iso(row[3]), bool(row[4]), row[5])
        return found

    def stats(self, flt: MemoryFilter) -> dict[str, Any]:
        """Counts by user, type, category, stage and retention; average importance.

        Read from the running counts (``memory_counts``) when the filter is a user/agent scope;
        a session scope or other filters take one grouped pass over the matching memories.
        """
        columns = "user_id, memory_type, category, lifecycle_stage, retention"
        if _counts_cover(flt):
            where, params = render(flt)
            sql = (
                f"SELECT {columns}, SUM(n), SUM(importance_sum) FROM memory_counts "
                f"WHERE {where} AND n > 0 GROUP BY {columns}"
            )
        else:
            where, params = render(flt)
            sql = (
                f"SELECT {columns}, COUNT(*), SUM(importance_score) FROM memories "
                f"WHERE {where} GROUP BY {columns}"
            )
        keys = ("by_user", "by_type", "by_category", "by_stage", "by_retention")
        out: dict[str, Any] = {key: {} for key in keys}
        total, importance = 0, 0.0
        for row in self._read(sql, params):
            count = row[5]
            for key, value in zip(keys, row[:5], strict=True):
                out[key][value] = out[key].get(value, 0) + count
            total += count
            importance += row[6] or 0.0
        out = {key: dict(sorted(counts.items())) for key, counts in out.items()}
        out["total"] = total
        out["average_importance"] = importance / total if total else 0.0
        return out

    def count_created_since(self, flt: MemoryFilter, moments: Sequence[datetime]) -> list[int]:
        """How many matching memories were created at or after each moment."""
        where, params = render(flt)
        return [
            self._read(
                f"SELECT COUNT(*) FROM memories WHERE {where} AND created_at >= ?",
                [*params, to_iso(moment)],
            )[0][0]
            for moment in moments
        ]

    def get_state(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
        )

    # -- lifecycle: access log, consolidation journal, batches -------------------------------

    def accesses_since(self, ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """The access times (search hits and gets) of these memories at or after ``since``."""
        found: dict[str, list[datetime]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self._read(
                f"SELECT memory_id, at FROM access_log WHERE memory_id IN "
                f"({','.join('?' * len(chunk))}) AND at >= ? ORDER BY at",
                [*chunk, to_iso(since)],
            )
            for row in rows:
                found.setdefault(row[0], []).append(from_iso(row[1]))
        return found

    def lifecycle_events(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """RESTORE, ARCHIVE and UPDATE events of these memories, oldest first, leaving out
        those written by an undo and those of consolidation runs that were undone."""
        undone_sql = "SELECT run_id FROM consolidation_runs WHERE undone_at IS NOT NULL"
        undone = {row[0] for row in self._read(undone_sql)}
        found: dict[str, list[HistoryEvent]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self._read(
                "SELECT memory_id, event, at, details FROM history WHERE memory_id IN "
                f"({','.join('?' * len(chunk))}) AND event IN ('RESTORE', 'ARCHIVE', 'UPDATE') "
                "ORDER BY seq",
                chunk,
            )
            for row in rows:
                details = json.loads(row["details"])
                if "undo" in details or details.get("run_id") in undone:
                    continue
                event = HistoryEvent(
                    event=EventKind(row["event"]), at=from_iso(row["at"]), details=details
                )
                found.setdefault(row["memory_id"], []).append(event)
        return found

    def record_run(
        self, run: RunRecord, writes: Sequence[RowWrite], journal: Sequence[JournalEntry]
    ) -> None:
        """Apply a consolidation run's writes and journal it, in one transaction.

        Raises ``Conflict`` (changing nothing) if a memory changed since the run was planned.
        """
        with self.transaction() as conn:
            counts = self._expect(conn, {e.prior.id: e.prior.version for e in journal})
            self._apply_writes(conn, writes)
            # accesses counted while the run was planned are kept, not overwritten
            conn.executemany(
                "UPDATE memories SET access_count = access_count + ? WHERE id = ?",
                [
                    (counts[e.prior.id] - e.prior.access_count, e.prior.id)
                    for e in journal
                    if e.final_version is not None and counts[e.prior.id] > e.prior.access_count
                ],
            )
            conn.execute(
                "INSERT INTO consolidation_runs (run_id, at, scope, counts, summary) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    to_iso(run.at),
                    json.dumps(run.scope),
                    json.dumps(run.counts),
                    json.dumps(run.summary),
                ),
            )
            rows = [
                (run.run_id, e.prior.id, e.prior.model_dump_json(), e.final_version, e.final_count)
                for e in journal
            ]
            conn.executemany(
                "INSERT INTO consolidation_journal (run_id, memory_id, prior, final_version, "
                "final_access_count) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def run(self, run_id: str) -> tuple[RunRecord, list[JournalEntry]] | None:
        """A journaled run and, per memory it touched, the prior row and final version."""
        rows = self._read(
            "SELECT run_id, at, scope, counts, undone_at, summary FROM consolidation_runs "
            "WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            return None
        entries = self._read(
            "SELECT prior, final_version, final_access_count FROM consolidation_journal "
            "WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        journal = [
            JournalEntry(Memory.model_validate_json(row[0]), row[1], row[2]) for row in entries
        ]
        return _to_run(rows[0]), journal

    def recent_runs(self, limit: int = 50) -> list[RunRecord]:
        """The latest journaled runs, newest first (without their ``summary``)."""
        rows = self._read(
            "SELECT run_id, at, scope, counts, undone_at FROM consolidation_runs "
            "ORDER BY at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [_to_run(row) for row in rows]

    def undo_run(
        self, run_id: str, writes: Sequence[RowWrite], expect: dict[str, int | None], at: datetime
    ) -> None:
        """Apply the writes that reverse a run and mark it undone, in one transaction.

        ``expect`` maps each memory to the version it must still have (None: must be absent);
        raises ``Conflict`` (changing nothing) otherwise, or if the run was undone meanwhile.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT undone_at FROM consolidation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                raise Conflict(f"consolidation run '{run_id}' was already undone or pruned")
            self._expect(conn, expect)
            self._apply_writes(conn, writes)
            conn.execute(
                "UPDATE consolidation_runs SET undone_at = ? WHERE run_id = ?", (to_iso(at), run_id)
            )

    def prune_lifecycle(self, accesses_before: datetime, runs_before: datetime) -> None:
        """Forget access times and journaled runs older than the given moments."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM access_log WHERE at < ?", (to_iso(accesses_before),))
            old = "SELECT run_id FROM consolidation_runs WHERE at < ?"
            conn.execute(
                f"DELETE FROM consolidation_journal WHERE run_id IN ({old})",
                (to_iso(runs_before),),
            )
            conn.execute("DELETE FROM consolidation_runs WHERE at < ?", (to_iso(runs_before),))

    @staticmethod
    def _expect(conn: sqlite3.Connection, expect: dict[str, int | None]) -> dict[str, int]:
        """Raise ``Conflict`` unless each memory has the expected version (None: is absent);
        returns the access counts of those present."""
        ids = list(expect)
        current: dict[str, int] = {}
        counts: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                "SELECT id, version, access_count FROM memories "
                f"WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            current.update((row[0], row[1]) for row in rows)
            counts.update((row[0], row[2]) for row in rows)
        changed = sorted(i for i, version in expect.items() if current.get(i) != version)
        if changed:
            raise Conflict(
                f"memories {', '.join(changed[:5])} changed since this was planned (an update, "
                "a delete or another consolidation run); nothing was changed: run it again"
            )
        return counts

    def _apply_writes(self, conn: sqlite3.Connection, writes: Sequence[RowWrite]) -> None:
        for write in writes:
            if write.op == "insert":
                conn.execute(
                    f"INSERT INTO memories (content_hash, {_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (write.content_hash, *_row_values(write.memory)),
                )
            elif write.op == "delete":
                conn.execute("DELETE FROM memories WHERE id = ?", (write.memory.id,))
            else:
                self._update_row(conn, write.memory, write.content_hash)
            self._event(conn, write.memory, write.event, write.at, write.details)
            if write.index is not None:
                self._enqueue(conn, write.memory.id, write.index, write.at)


def _scope_key(memory: Memory) -> tuple[str, str, str]:
    return (memory.user_id or "", memory.agent_id or "", memory.session_id or "")


def _event_values(
    memory: Memory, event: EventKind, at: datetime, details: dict[str, Any] | None
) -> tuple[Any, ...]:
    return (
        memory.id,
        event.value,
        to_iso(at),
        memory.content,
        json.dumps(memory.metadata, sort_keys=True),
        memory.importance_score,
        json.dumps(details or {}, sort_keys=True),
    )


def _to_event(row: sqlite3.Row) -> HistoryEvent:
    return HistoryEvent(
        event=EventKind(row["event"]),
        at=from_iso(row["at"]),
        content=row["content"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else None,
        importance=row["importance"],
        details=json.loads(row["details"]),
    )


def _row_values(memory: Memory) -> tuple[Any, ...]:
    return (
        memory.id,
        memory.content,
        memory.user_id or "",
        memory.agent_id or "",
        memory.session_id or "",
        memory.memory_type.value,
        memory.category.value,
        json.dumps(memory.metadata, sort_keys=True),
        memory.importance_score,
        memory.retention.value,
        memory.lifecycle_stage.value,
        memory.access_count,
        to_iso(memory.last_accessed) if memory.last_accessed else None,
        to_iso(memory.created_at),
        to_iso(memory.updated_at),
        memory.version,
    )


def _to_memory(row: sqlite3.Row) -> Memory:
    return Memory(
        id=row["id"],
        content=row["content"],
        user_id=row["user_id"] or None,
        agent_id=row["agent_id"] or None,
        session_id=row["session_id"] or None,
        memory_type=row["memory_type"],
        category=row["category"],
        metadata=json.loads(row["metadata"]),
        importance_score=row["importance_score"],
        retention=row["retention"],
        lifecycle_stage=Stage(row["lifecycle_stage"]),
        access_count=row["access_count"],
        last_accessed=from_iso(row["last_accessed"]) if row["last_accessed"] else None,
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
        version=row["version"],
    )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    statements, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    if "\n".join(current).strip():
        statements.append("\n".join(current))
    return statements


def _to_run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        at=from_iso(row[1]),
        scope=json.loads(row[2]),
        counts=json.loads(row[3]),
        summary=json.loads(row[5]) if len(row) > 5 else {},
        undone_at=from_iso(row[4]) if row[4] else None,
    )


def _session_keys(keys: Sequence[tuple[str, str, str]]) -> tuple[str, list[str]]:
    """A ``WITH keys(u, a, s)`` clause holding these session keys, and its parameters. Joined
    on, each key is looked up in an index; a row-value ``IN (VALUES ...)`` list instead made
    SQLite scan the whole scope index."""
    rows = ",".join(["(?,?,?)"] * len(keys))
    return f"WITH keys(u, a, s) AS (VALUES {rows})", [v for key in keys for v in key]


def _quoted(term: str) -> str:
    """A term as an FTS5 string (its quotes dropped): no query syntax leaks through."""
    return '"' + term.replace('"', "") + '"'

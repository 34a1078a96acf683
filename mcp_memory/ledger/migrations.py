"""The ledger's schema: numbered migrations, applied in order, each once.

A store records how many migrations it has applied (``PRAGMA user_version``), so a new
migration is appended at the end and existing ones are never reordered or edited: stores on
disk were built by their exact text.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from mcp_memory.ledger.connection import Connection


class Migration(NamedTuple):
    """One schema step: what it adds (for a reader), and its SQL script."""

    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    # 1
    Migration(
        "memories, their history, the index outbox, key/value state",
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
    ),
    # 2: a stemmed keyword index over the content, kept in step by triggers.
    Migration(
        "a stemmed keyword index",
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
    ),
    # 3: lifecycle: an access log (for the access boost, pruned by age) and the consolidation
    # journal: each run, and for each memory it touched the full prior row, for undo.
    Migration(
        "the access log and the consolidation journal",
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
    ),
    # 4: a change counter for the vector index, read by every process sharing this data dir
    # (indexing/guard.py). Idempotent, so its place among other helpers' migrations does not
    # matter.
    Migration(
        "the vector index's change counter",
        """
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) VALUES ('index_generation', 0) ON CONFLICT (name) DO NOTHING;
    """,
    ),
    # 5: running counts for stats and counts, kept by triggers, so stats at 100k
    # memories reads a few hundred rows instead of scanning the table (updates that only touch
    # access counts do not fire them); an index for searches within a user's session.
    Migration(
        "running counts",
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
    ),
    # 6: the keyword index also holds each memory's scope as tokens (``owner``), so a search
    # within one user's scope reads that scope's postings instead of every user's
    # (``keywords.in_scope``). It indexes a view, whose ``owner`` column the triggers read too.
    Migration(
        "the keyword index by scope",
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
    ),
    # 7: a version per session, raised by every change to a member (not by access counts), so
    # a search reads a session's members only when they may have changed (``Ledger.sessions``).
    Migration(
        "session versions",
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
    ),
    # 8: the scope index also holds what a session's member list reads
    # (``SessionStore._read_members``), in member order: reading a hundred sessions' members took
    # 25-34 ms at 100k memories through the rows, 5-7 ms from this index alone.
    Migration(
        "the scope index covers session members",
        """
    DROP INDEX IF EXISTS ix_memories_user;
    CREATE INDEX IF NOT EXISTS ix_memories_scope
        ON memories(user_id, agent_id, session_id, created_at, lifecycle_stage, id);
    """,
    ),
    # 9: each session's order verdict (``search.sessions.SessionOrders``), kept across restarts
    # and shared by processes; ``judged`` names what it was computed from (session version,
    # gap, members), so a stale verdict is simply not used.
    Migration(
        "session order verdicts",
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
    ),
    # 10: a generation of the keyword index, raised by every change to what it holds (not by
    # access counts), so a term's document count is read once per generation, in any process
    # (``Ledger.term_counts``).
    Migration(
        "the keyword index's generation",
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
    ),
    # 11: dates before year 1000 written by earlier versions without their leading zeros
    # (``999-06-01T...``, clock.py) are read, but sort after '1...' in a date filter; each date
    # column gets its zeros back. (The journal's priors are pydantic JSON, always four digits.)
    # Idempotent, so its place among other helpers' migrations does not matter.
    Migration(
        "dates before year 1000 zero-padded",
        """
    UPDATE memories SET created_at = substr('000', 1, 5 - instr(created_at, '-')) || created_at
        WHERE created_at GLOB '[0-9]-*' OR created_at GLOB '[0-9][0-9]-*'
            OR created_at GLOB '[0-9][0-9][0-9]-*';
    UPDATE memories SET updated_at = substr('000', 1, 5 - instr(updated_at, '-')) || updated_at
        WHERE updated_at GLOB '[0-9]-*' OR updated_at GLOB '[0-9][0-9]-*'
            OR updated_at GLOB '[0-9][0-9][0-9]-*';
    UPDATE memories
        SET last_accessed = substr('000', 1, 5 - instr(last_accessed, '-')) || last_accessed
        WHERE last_accessed GLOB '[0-9]-*' OR last_accessed GLOB '[0-9][0-9]-*'
            OR last_accessed GLOB '[0-9][0-9][0-9]-*';
    UPDATE history SET at = substr('000', 1, 5 - instr(at, '-')) || at
        WHERE at GLOB '[0-9]-*' OR at GLOB '[0-9][0-9]-*' OR at GLOB '[0-9][0-9][0-9]-*';
    UPDATE access_log SET at = substr('000', 1, 5 - instr(at, '-')) || at
        WHERE at GLOB '[0-9]-*' OR at GLOB '[0-9][0-9]-*' OR at GLOB '[0-9][0-9][0-9]-*';
    UPDATE consolidation_runs SET at = substr('000', 1, 5 - instr(at, '-')) || at
        WHERE at GLOB '[0-9]-*' OR at GLOB '[0-9][0-9]-*' OR at GLOB '[0-9][0-9][0-9]-*';
    UPDATE consolidation_runs SET undone_at = substr('000', 1, 5 - instr(undone_at, '-')) || undone_at
        WHERE undone_at GLOB '[0-9]-*' OR undone_at GLOB '[0-9][0-9]-*'
            OR undone_at GLOB '[0-9][0-9][0-9]-*';
    UPDATE index_queue SET queued_at = substr('000', 1, 5 - instr(queued_at, '-')) || queued_at
        WHERE queued_at GLOB '[0-9]-*' OR queued_at GLOB '[0-9][0-9]-*'
            OR queued_at GLOB '[0-9][0-9][0-9]-*';
    """,
    ),
    # 12: a list of one stage, newest first (the memory page's stage filter, list_memories with
    # a stage), reads this index in order and stops at the page's end. On the stage alone the
    # planner took it and sorted every memory of that stage: 57 ms at 100k active memories
    # (benchmarks/web.py), 0.5 ms from this index; a stage that holds few memories is as fast.
    Migration(
        "stages in time order",
        """
    DROP INDEX IF EXISTS ix_memories_stage;
    CREATE INDEX IF NOT EXISTS ix_memories_stage_created ON memories(lifecycle_stage, created_at);
    """,
    ),
)


def split_sql(script: str) -> list[str]:
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


class Schema(Connection):
    """Bringing a store's schema up to date, and telling which version it is at."""

    def migrate(self) -> None:
        """Apply the migrations this file has not yet applied; safe to call at every start, and
        no write at all when the schema is current."""
        if self.schema_version == len(MIGRATIONS):
            return
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return self._read("PRAGMA user_version")[0][0]

"""The PostgreSQL ledger's schema: numbered migrations, applied in order, each once, by one
process at a time.

Everything lives in the configured schema (``storage.schema``), so several stores can share a
database. ``schema_migrations`` records each applied step; ``migrate`` takes an advisory lock
for the schema first, so servers starting together apply a step once (the others wait, then
find it applied). A new migration is appended at the end; existing ones are never edited.

The tables follow the SQLite ledger's (``mcp_memory.ledger.migrations``), in PostgreSQL's
types: timestamps as ``timestamptz``, JSON kept as the text the ledger wrote (so a memory reads
back exactly as stored), ``seq`` an identity column giving insertion order. What triggers keep
in SQLite (running counts, session versions, the keyword index's generation) triggers keep
here; the keyword index is a ``tsvector`` column with a GIN index (``keywords.py``).
"""

from __future__ import annotations

from typing import NamedTuple

from psycopg import sql

from mcp_memory.postgres.database import Conn, Database, lock

PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
"""ASCII punctuation but the apostrophe: split into words before parsing, as FTS5's unicode61
tokenizer does (PostgreSQL's parser would keep ``bob@x.com``, ``3.5`` or ``a/b`` whole)."""


class Migration(NamedTuple):
    """One schema step: what it adds (for a reader), and its SQL script."""

    name: str
    sql: str


_MEMORIES = """
CREATE TABLE memories (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    content text NOT NULL,
    content_hash text NOT NULL,
    twin text NOT NULL DEFAULT '',
    user_id text NOT NULL DEFAULT '',
    agent_id text NOT NULL DEFAULT '',
    session_id text NOT NULL DEFAULT '',
    memory_type text NOT NULL,
    category text NOT NULL,
    metadata text NOT NULL DEFAULT '{}',
    importance_score double precision NOT NULL,
    retention text NOT NULL,
    lifecycle_stage text NOT NULL DEFAULT 'active',
    access_count integer NOT NULL DEFAULT 0,
    last_accessed timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL DEFAULT 1
) WITH (fillfactor = 90);
-- The same text is stored once per scope by add_memory: two servers adding it at once
-- collide here and the second returns the first (``twin`` is '' for a memory stored by an
-- add, its own id for one whose text became the same later: an update, an import).
CREATE UNIQUE INDEX ux_memories_text ON memories (user_id, agent_id, session_id, content_hash, twin);
-- A scope's memories, and a session's members in their order, from the index alone.
CREATE INDEX ix_memories_scope
    ON memories (user_id, agent_id, session_id, created_at, seq) INCLUDE (lifecycle_stage, id);
CREATE INDEX ix_memories_agent ON memories (agent_id);
CREATE INDEX ix_memories_session ON memories (session_id, created_at);
CREATE INDEX ix_memories_created ON memories (created_at);
CREATE INDEX ix_memories_updated ON memories (updated_at);
CREATE INDEX ix_memories_importance ON memories (importance_score);
CREATE TABLE history (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id text NOT NULL,
    event text NOT NULL,
    at timestamptz NOT NULL,
    content text,
    metadata text,
    importance double precision,
    details text NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_history_memory ON history (memory_id, seq);
CREATE TABLE index_queue (
    memory_id text PRIMARY KEY,
    op text NOT NULL,
    queued_at timestamptz NOT NULL
);
CREATE INDEX ix_index_queue_queued ON index_queue (queued_at);
CREATE TABLE state (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO counters (name, value) VALUES ('index_generation', 0);
"""

_KEYWORDS = f"""
CREATE TEXT SEARCH DICTIONARY words_stem (TEMPLATE = snowball, Language = porter);
CREATE TEXT SEARCH CONFIGURATION words (PARSER = default);
ALTER TEXT SEARCH CONFIGURATION words ADD MAPPING FOR asciiword, word, numword, asciihword,
    hword, numhword, hword_asciipart, hword_part, hword_numpart, email, url, host, file,
    url_path, sfloat, float, int, uint, version WITH words_stem;
CREATE FUNCTION words_vector(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('words'::regconfig, translate(t, $p${PUNCTUATION}$p$, $s${" " * len(PUNCTUATION)}$s$));
-- A query term is a phrase of its words; its double quotes are dropped first, as the SQLite
-- ledger drops them from an FTS5 string.
CREATE FUNCTION words_query(t text) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN phraseto_tsquery('words'::regconfig,
        translate(replace(t, '"', ''), $p${PUNCTUATION}$p$, $s${" " * len(PUNCTUATION)}$s$));
ALTER TABLE memories ADD COLUMN words tsvector GENERATED ALWAYS AS (words_vector(content)) STORED;
CREATE INDEX ix_memories_words ON memories USING gin (words);
-- The keyword index's generation, per user: raised by every change to what it holds (not by
-- access counts), so a term's document count is counted again only after a change, by any
-- server; per user, so writers in different scopes do not queue on one row.
CREATE TABLE keyword_versions (user_id text PRIMARY KEY, version bigint NOT NULL);
CREATE FUNCTION keywords_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO keyword_versions VALUES (OLD.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = keyword_versions.version + 1;
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.user_id <> OLD.user_id) THEN
        INSERT INTO keyword_versions VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET version = keyword_versions.version + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER keywords_changed AFTER INSERT OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION keywords_changed();
CREATE TRIGGER keywords_updated AFTER UPDATE OF content, user_id, agent_id, session_id
    ON memories FOR EACH ROW
    WHEN ((OLD.content, OLD.user_id, OLD.agent_id, OLD.session_id)
          IS DISTINCT FROM (NEW.content, NEW.user_id, NEW.agent_id, NEW.session_id))
    EXECUTE FUNCTION keywords_changed();
"""

_TERMS = """
-- Each stemmed word's document count over the whole store and within each user's memories,
-- kept by statement triggers in the transaction of the change (a batch counts its words once),
-- so a search over every scope or over a user's reads a term's count instead of counting its
-- documents (93k of them for 'user' at 100k memories). Counts are upserted in key order:
-- concurrent writers take their row locks in one order.
CREATE TABLE keyword_terms (lexeme text PRIMARY KEY, ndoc bigint NOT NULL);
CREATE TABLE keyword_user_terms (
    user_id text NOT NULL,
    lexeme text NOT NULL,
    ndoc bigint NOT NULL,
    PRIMARY KEY (user_id, lexeme)
);
CREATE FUNCTION keyword_terms_count(changes jsonb) RETURNS void LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    -- changes: [[user_id, lexeme, delta], ...]
    INSERT INTO keyword_terms (lexeme, ndoc)
    SELECT c->>1, sum((c->>2)::bigint) FROM jsonb_array_elements(changes) AS c
    GROUP BY c->>1 HAVING sum((c->>2)::bigint) <> 0 ORDER BY c->>1
    ON CONFLICT (lexeme) DO UPDATE SET ndoc = keyword_terms.ndoc + excluded.ndoc;
    INSERT INTO keyword_user_terms (user_id, lexeme, ndoc)
    SELECT c->>0, c->>1, sum((c->>2)::bigint) FROM jsonb_array_elements(changes) AS c
    GROUP BY c->>0, c->>1 HAVING sum((c->>2)::bigint) <> 0 ORDER BY c->>0, c->>1
    ON CONFLICT (user_id, lexeme) DO UPDATE SET ndoc = keyword_user_terms.ndoc + excluded.ndoc;
END $$;
CREATE FUNCTION keyword_terms_added() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM keyword_terms_count((
        SELECT coalesce(jsonb_agg(jsonb_build_array(user_id, lexeme, 1)), '[]')
        FROM new_rows, unnest(tsvector_to_array(new_rows.words)) AS lexeme));
    RETURN NULL;
END $$;
CREATE FUNCTION keyword_terms_removed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM keyword_terms_count((
        SELECT coalesce(jsonb_agg(jsonb_build_array(user_id, lexeme, -1)), '[]')
        FROM old_rows, unnest(tsvector_to_array(old_rows.words)) AS lexeme));
    RETURN NULL;
END $$;
CREATE FUNCTION keyword_terms_changed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM keyword_terms_count((
        SELECT coalesce(jsonb_agg(jsonb_build_array(user_id, lexeme, delta)), '[]') FROM (
            SELECT n.user_id, lexeme, 1 AS delta FROM new_rows n JOIN old_rows o USING (seq),
                unnest(tsvector_to_array(n.words)) AS lexeme
            WHERE (n.words, n.user_id) IS DISTINCT FROM (o.words, o.user_id)
            UNION ALL
            SELECT o.user_id, lexeme, -1 FROM new_rows n JOIN old_rows o USING (seq),
                unnest(tsvector_to_array(o.words)) AS lexeme
            WHERE (n.words, n.user_id) IS DISTINCT FROM (o.words, o.user_id)
        ) changed));
    RETURN NULL;
END $$;
CREATE TRIGGER keyword_terms_added AFTER INSERT ON memories REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyword_terms_added();
CREATE TRIGGER keyword_terms_removed AFTER DELETE ON memories REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyword_terms_removed();
CREATE TRIGGER keyword_terms_changed AFTER UPDATE ON memories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION keyword_terms_changed();
INSERT INTO keyword_terms (lexeme, ndoc)
SELECT lexeme, count(*) FROM memories, unnest(tsvector_to_array(words)) AS lexeme GROUP BY lexeme;
INSERT INTO keyword_user_terms (user_id, lexeme, ndoc)
SELECT user_id, lexeme, count(*) FROM memories, unnest(tsvector_to_array(words)) AS lexeme
GROUP BY user_id, lexeme;
"""

_LIFECYCLE = """
CREATE TABLE access_log (memory_id text NOT NULL, at timestamptz NOT NULL);
CREATE INDEX ix_access_log ON access_log (memory_id, at);
CREATE INDEX ix_access_log_at ON access_log (at);
CREATE TABLE consolidation_runs (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    run_id text PRIMARY KEY,
    at timestamptz NOT NULL,
    scope text NOT NULL,
    counts text NOT NULL,
    summary text NOT NULL,
    undone_at timestamptz
);
CREATE INDEX ix_runs_at ON consolidation_runs (at);
CREATE TABLE consolidation_journal (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id text NOT NULL,
    memory_id text NOT NULL,
    prior text NOT NULL,
    final_version integer,
    final_access_count integer
);
CREATE INDEX ix_journal_run ON consolidation_journal (run_id, seq);
"""

_COUNTS = """
CREATE TABLE memory_counts (
    user_id text NOT NULL,
    agent_id text NOT NULL,
    memory_type text NOT NULL,
    category text NOT NULL,
    lifecycle_stage text NOT NULL,
    retention text NOT NULL,
    n integer NOT NULL,
    importance_sum double precision NOT NULL,
    PRIMARY KEY (user_id, agent_id, memory_type, category, lifecycle_stage, retention)
);
CREATE FUNCTION memories_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE memory_counts SET n = n - 1, importance_sum = importance_sum - OLD.importance_score
        WHERE (user_id, agent_id, memory_type, category, lifecycle_stage, retention)
            = (OLD.user_id, OLD.agent_id, OLD.memory_type, OLD.category, OLD.lifecycle_stage,
               OLD.retention);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO memory_counts VALUES (NEW.user_id, NEW.agent_id, NEW.memory_type,
            NEW.category, NEW.lifecycle_stage, NEW.retention, 1, NEW.importance_score)
        ON CONFLICT (user_id, agent_id, memory_type, category, lifecycle_stage, retention)
        DO UPDATE SET n = memory_counts.n + 1,
            importance_sum = memory_counts.importance_sum + excluded.importance_sum;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER memories_counted AFTER INSERT OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_counted();
CREATE TRIGGER memories_recounted AFTER UPDATE OF user_id, agent_id, memory_type, category,
    lifecycle_stage, retention, importance_score ON memories FOR EACH ROW
    WHEN ((OLD.user_id, OLD.agent_id, OLD.memory_type, OLD.category, OLD.lifecycle_stage,
           OLD.retention, OLD.importance_score)
          IS DISTINCT FROM (NEW.user_id, NEW.agent_id, NEW.memory_type, NEW.category,
           NEW.lifecycle_stage, NEW.retention, NEW.importance_score))
    EXECUTE FUNCTION memories_counted();
"""

_SESSIONS = """
CREATE TABLE session_versions (
    user_id text NOT NULL,
    agent_id text NOT NULL,
    session_id text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (user_id, agent_id, session_id)
);
CREATE FUNCTION session_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.session_id <> '' THEN
        UPDATE session_versions SET version = version + 1
        WHERE (user_id, agent_id, session_id) = (OLD.user_id, OLD.agent_id, OLD.session_id);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.session_id <> '' AND (TG_OP = 'INSERT'
        OR (NEW.user_id, NEW.agent_id, NEW.session_id)
            IS DISTINCT FROM (OLD.user_id, OLD.agent_id, OLD.session_id)) THEN
        INSERT INTO session_versions VALUES (NEW.user_id, NEW.agent_id, NEW.session_id, 1)
        ON CONFLICT (user_id, agent_id, session_id)
        DO UPDATE SET version = session_versions.version + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER session_changed AFTER INSERT OR DELETE ON memories
    FOR EACH ROW EXECUTE FUNCTION session_changed();
CREATE TRIGGER session_updated AFTER UPDATE OF content, user_id, agent_id, session_id,
    memory_type, category, metadata, importance_score, retention, lifecycle_stage, created_at,
    updated_at ON memories FOR EACH ROW EXECUTE FUNCTION session_changed();
CREATE TABLE session_orders (
    user_id text NOT NULL,
    agent_id text NOT NULL,
    session_id text NOT NULL,
    judged text NOT NULL,
    score double precision,
    PRIMARY KEY (user_id, agent_id, session_id)
);
"""

_VECTORS = """
CREATE TABLE vector_indexes (
    name text PRIMARY KEY,
    relation text NOT NULL UNIQUE,
    model text NOT NULL,
    dimension integer NOT NULL,
    rows bigint NOT NULL DEFAULT 0
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration("memories, their history, the index outbox, state and counters", _MEMORIES),
    Migration("a stemmed keyword index and its generation", _KEYWORDS),
    Migration("the access log and the consolidation journal", _LIFECYCLE),
    Migration("running counts", _COUNTS),
    Migration("session versions and order verdicts", _SESSIONS),
    Migration("the catalog of pgvector indexes", _VECTORS),
    Migration("each word's document count over the store and each user's memories", _TERMS),
    # 8: a list of one stage, newest first (the memory page's stage filter, list_memories with
    # a stage), reads this index in order and stops at the page's end (SQLite's migration 12).
    Migration(
        "stages in time order",
        "CREATE INDEX ix_memories_stage_created ON memories (lifecycle_stage, created_at, seq);",
    ),
)


def migrate(database: Database) -> int:
    """Create the schema if missing and apply the migrations it lacks, under the schema's
    migration lock, in one transaction; returns the schema version."""
    with database.connect() as conn, conn.transaction():
        lock(conn, f"{database.schema}:migrate")
        _ensure_schema(conn, database.schema)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        version = done[0] if done else 0
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (number, migration.name),
            )
        return len(MIGRATIONS)


def schema_version(database: Database) -> int:
    rows = database.read("SELECT coalesce(max(version), 0) FROM schema_migrations")
    return rows[0][0]


def _ensure_schema(conn: Conn, schema: str) -> None:
    """Create the schema unless it exists (a user without CREATE on the database may be given
    one made by an administrator)."""
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
    if found is None:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))

"""The keyword index: a ``tsvector`` of each memory's content (stemmed) with a GIN index.

The column is generated from the content (migration 2), so the index cannot drift from the
memories: it changes in the same transaction as the row. Words are split as FTS5's unicode61
tokenizer splits them (ASCII punctuation separates words) and stemmed with the same Porter
stemmer the SQLite ledger's ``porter`` tokenizer uses (Snowball's ``porter``, not its
``english``: "generously" -> "gener", "dying" -> "dy", "news" -> "new" in both engines). Where
the two engines still differ: FTS5 folds diacritics ("café" matches "cafe"), PostgreSQL keeps
them; FTS5 ranks keyword matches with BM25 over term frequencies across the whole store, this
index with the ranker's own presence BM25 over the searched scope (``keyword_search``).

Each term is a phrase query of its words (``words_query``), so callers pass plain terms.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

from mcp_memory.lru import Bounded
from mcp_memory.models import Scope
from mcp_memory.postgres.database import Conn, Part
from mcp_memory.postgres.filters import render
from mcp_memory.postgres.rows import CANDIDATE_COLUMNS, to_candidate
from mcp_memory.store.records import CandidateRow, MemoryFilter

K1, B = 1.2, 0.75
"""BM25's term saturation and length normalisation, as ``search.ranking.presence_bm25``."""


_KEPT_COUNTS = """
SELECT t.term, CASE WHEN numnode(words_query(t.term)) = 1
    THEN coalesce((SELECT ndoc FROM {table} WHERE {user} lexeme = (
        tsvector_to_array(words_vector(replace(t.term, '"', ''))))[1]), 0)
    ELSE (SELECT count(*) FROM memories WHERE {user} words @@ words_query(t.term)) END
FROM unnest(%(terms)s::text[]) AS t(term)
"""
STORE_COUNTS = _KEPT_COUNTS.format(table="keyword_terms", user="")
USER_COUNTS = _KEPT_COUNTS.format(table="keyword_user_terms", user="user_id = %(user)s AND")
"""Document counts over the whole store, or one user's memories: a one-word term's kept by
triggers (migration 7), a phrase's (``alice's``) counted."""


class KeywordIndex(Part):
    """Keyword search and term statistics; a term's document count is kept per generation of
    the keyword index (``keyword_versions``, raised by triggers on every change to what it
    holds, by any server)."""

    _term_counts: Bounded
    """(generation, scope, term) -> document count; created by ``PostgresLedger``."""
    _recent: threading.local
    """What this thread read last of a scope (its term counts, its size), for the idf of the
    keyword search that follows; created by ``PostgresLedger``."""

    def keyword_search(
        self, terms: Sequence[str], flt: MemoryFilter, limit: int, every: bool = False
    ) -> list[tuple[str, float]]:
        """(id, score) of the memories holding any of the terms (``every``: all of them) and
        passing the filter, best first (higher is better).

        The score is BM25 over the terms a memory holds (each counted once, as the ranker
        counts them), with each term's rarity in the scope and the memory's length in distinct
        words against the matches' mean. The length is a float: in integers, PostgreSQL
        averages into ``numeric`` and the whole score with it, a quarter of the statement's
        time over thousands of matches."""
        if not terms or limit <= 0:
            return []
        where, params = render(flt)
        counts, total = self._idf_basis(terms, flt.scope)
        idf = [math.log(1 + (total - counts[t] + 0.5) / (counts[t] + 0.5)) for t in terms]
        queries = ", ".join(f"words_query(%s) AS q{n}" for n in range(len(terms)))
        joined = (" && " if every else " || ").join(f"q{n}" for n in range(len(terms)))
        held = " + ".join(f"%s * (m.words @@ (SELECT q{n} FROM q))::int" for n in range(len(terms)))
        rows = self._read(
            f"WITH q AS (SELECT {queries}), scored AS ("
            f"SELECT m.id, m.seq, ({held}) AS held, length(m.words)::float8 AS size FROM memories m "
            f"WHERE m.words @@ (SELECT {joined} FROM q) AND {where}) "
            f"SELECT id, held * {K1 + 1} / (1 + {K1} * (1 - {B} + {B} * size / "
            "greatest(avg(size) OVER (), 1))) AS score FROM scored "
            "ORDER BY score DESC, seq LIMIT %s",
            [*terms, *idf, *params, limit],
        )
        return [(row[0], float(row[1])) for row in rows]

    def term_counts(self, terms: Sequence[str], scope: Scope) -> dict[str, int]:
        """How many of the scope's memories contain each term (stemmed, as the keyword index
        sees it), over every stage; kept per generation of the index, so a term is counted
        again only after a memory of the scope's user (or, for a scope without one, of any
        user) was added, deleted or moved, or its text changed, by any server."""
        generation = self._keyword_generation(scope)
        scoped = (scope.user_id, scope.agent_id, scope.session_id)
        counts: dict[str, int] = {}
        for term in terms:
            found = self._term_counts.get((generation, scoped, term))
            if found is not None:
                counts[term] = found
        missing = [t for t in dict.fromkeys(terms) if t not in counts]
        if missing and scope == Scope():
            rows = self._read(STORE_COUNTS, {"terms": missing})
        elif missing and scope == Scope(user_id=scope.user_id):
            rows = self._read(USER_COUNTS, {"terms": missing, "user": scope.user_id})
        elif missing:
            where, params = render(MemoryFilter(scope=scope))
            rows = self._read(
                f"SELECT t.term, (SELECT count(*) FROM memories WHERE "
                f"words @@ words_query(t.term) AND {where}) FROM unnest(%s::text[]) AS t(term)",
                [*params, missing],
            )
        else:
            rows = []
        for term, count in rows:
            counts[term] = count
            self._term_counts.put((generation, scoped, term), count)
        self._recent.counts = (scoped, counts)
        return counts

    def term_hits(
        self, terms: Sequence[str], rows: Mapping[str, CandidateRow], scope: Scope
    ) -> dict[str, set[str]]:
        """Which of these candidates (those in the scope) contain each term, stemmed as the
        keyword index sees it: one statement for every term."""
        hits: dict[str, set[str]] = {term: set() for term in terms}
        if not terms or not rows:
            return hits
        id_of = {row.seq: memory_id for memory_id, row in rows.items()}
        where, params = render(MemoryFilter(scope=scope))
        found = self._read(  # each term's query made once, not once per candidate
            "WITH t AS MATERIALIZED (SELECT term, words_query(term) AS q "
            "FROM unnest(%s::text[]) AS term) SELECT t.term, m.seq FROM t JOIN memories m "
            f"ON m.seq = ANY(%s) AND m.words @@ t.q WHERE {where}",
            [list(terms), list(id_of), *params],
        )
        for term, seq in found:
            hits[term].add(id_of[seq])
        return hits

    def candidates_with_terms(
        self, ids: Sequence[str], flt: MemoryFilter, terms: Sequence[str]
    ) -> tuple[dict[str, CandidateRow], dict[str, set[str]]]:
        """``candidates`` and ``term_hits`` in one statement: each candidate's row with the
        numbers of the terms it holds."""
        hits: dict[str, set[str]] = {term: set() for term in terms}
        if not ids:
            return {}, hits
        where, params = render(flt)
        found = self._read(
            "WITH t AS MATERIALIZED (SELECT n, words_query(term) AS q "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS x(term, n)) "
            f"SELECT {CANDIDATE_COLUMNS}, ARRAY(SELECT t.n FROM t WHERE words @@ t.q) "
            f"FROM memories WHERE id = ANY(%s) AND {where}",
            [list(terms), list(ids), *params],
        )
        rows = {}
        for row in found:
            rows[row[0]] = to_candidate(row)
            for n in row[-1]:
                hits[terms[n - 1]].add(row[0])
        return rows, hits

    def keyword_index_ok(self, full: bool = True) -> bool:
        """Whether the keyword index holds what the memories say: its GIN index is valid and,
        with ``full``, every memory's words are what its content gives today (a scan that
        re-parses every memory: for small stores and ``doctor``)."""
        valid = self._read(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.oid = 'ix_memories_words'::regclass"
        )
        if not valid or not valid[0][0]:
            return False
        if not full:
            return True
        stale = "SELECT 1 FROM memories WHERE words IS DISTINCT FROM words_vector(content) LIMIT 1"
        return not self._read(stale)

    def rebuild_keyword_index(self) -> None:
        """Rebuild the GIN index (and every memory's words) and start a new generation."""

        def rebuild(conn: Conn) -> None:
            conn.execute(
                "UPDATE memories SET content = content WHERE words IS DISTINCT FROM words_vector(content)"
            )
            conn.execute("REINDEX INDEX ix_memories_words")
            conn.execute("DELETE FROM keyword_terms")
            conn.execute("DELETE FROM keyword_user_terms")
            conn.execute(
                "INSERT INTO keyword_terms (lexeme, ndoc) SELECT lexeme, count(*) FROM memories, "
                "unnest(tsvector_to_array(words)) AS lexeme GROUP BY lexeme"
            )
            conn.execute(
                "INSERT INTO keyword_user_terms (user_id, lexeme, ndoc) SELECT user_id, lexeme, "
                "count(*) FROM memories, unnest(tsvector_to_array(words)) AS lexeme "
                "GROUP BY user_id, lexeme"
            )
            conn.execute("UPDATE keyword_versions SET version = version + 1")

        self.db.write(rebuild)

    def _keyword_generation(self, scope: Scope) -> int:
        if scope.user_id is not None:
            rows = self._read(
                "SELECT version FROM keyword_versions WHERE user_id = %s", (scope.user_id,)
            )
            return rows[0][0] if rows else 0
        return int(self._read("SELECT coalesce(sum(version), 0) FROM keyword_versions")[0][0])

    def _idf_basis(self, terms: Sequence[str], scope: Scope) -> tuple[Mapping[str, int], int]:
        """The terms' document counts in the scope and how many memories it holds: those this
        thread has just read (a search reads both before it looks keywords up), else read."""
        scoped = (scope.user_id, scope.agent_id, scope.session_id)
        recent = getattr(self._recent, "counts", None)
        if recent is not None and recent[0] == scoped and all(t in recent[1] for t in terms):
            counts = recent[1]
        else:
            counts = self.term_counts(terms, scope)
        total = getattr(self._recent, "total", None)
        if total is None or total[0] != scoped:
            total = (scoped, self._count_scope(scope))
        return counts, total[1]

    def _count_scope(self, scope: Scope) -> int:
        """How many memories the scope holds, every stage (the running counts)."""
        where, params = render(MemoryFilter(scope=scope))
        table, count = "memory_counts", "coalesce(sum(n), 0)"
        if scope.session_id is not None:  # the running counts do not split by session
            table, count = "memories", "count(*)"
        return int(self._read(f"SELECT {count} FROM {table} WHERE {where}", params)[0][0])

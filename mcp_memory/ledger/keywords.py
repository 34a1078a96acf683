"""The keyword index: FTS5 over each memory's content (stemmed) and its scope.

The index is kept in step with ``memories`` by triggers (migrations 2 and 6), and it holds
each memory's scope as tokens, so a search within a scope reads that scope's postings alone
(``in_scope``). FTS5 query syntax and its quoting live here alone: callers pass plain terms.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

from mcp_memory.ledger.filters import render
from mcp_memory.ledger.state import StateStore
from mcp_memory.lru import Bounded
from mcp_memory.models import Scope
from mcp_memory.store.records import CandidateRow, MemoryFilter


def in_scope(match: str, scope: Scope) -> str:
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


def quoted(term: str) -> str:
    """A term as an FTS5 string (its quotes dropped): no query syntax leaks through."""
    return '"' + term.replace('"', "") + '"'


class KeywordIndex(StateStore):
    """Keyword search and term statistics; a term's document count is kept per generation of
    the index (the ``keywords`` counter of ``StateStore``, migration 10)."""

    _term_counts: Bounded
    """(generation, scope, term) -> document count; created by ``Ledger``."""

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
        match = (" AND " if every else " OR ").join(quoted(t) for t in terms) or '""'
        query = in_scope(match, flt.scope)
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
                    [in_scope(quoted(term), scope)],
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
                [among, in_scope(quoted(term), scope)],
            )
            hits[term] = {id_of[row[0]] for row in found}
        return hits

    def candidates_with_terms(
        self, ids: Sequence[str], flt: MemoryFilter, terms: Sequence[str]
    ) -> tuple[dict[str, CandidateRow], dict[str, set[str]]]:
        """``candidates``, then ``term_hits`` over them: in process, a second statement costs
        no round trip."""
        rows = self.candidates(ids, flt)  # type: ignore[attr-defined]  # MemoryReader's
        return rows, self.term_hits(terms, rows, flt.scope)

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
            with self.transaction(derived=True) as conn:
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

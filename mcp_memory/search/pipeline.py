"""The search pipeline: gather a query's candidates from the stores, then rank them.

Gathering reads, at query time: the nearest vectors (exactly over a small scope or filtered
set, through the HNSW graph otherwise), the keyword index's best matches, and the memories
around the best of both in their sessions (``context.py``), with how far each session's order
counts (``sessions.py``). ``ranking.py`` then scores them (pure). The stores are reached
through their protocols only (``VectorIndex``, ``SearchLedger``, ``Embedder``): search imports
no storage engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

import numpy as np

from mcp_memory.config import RankingSettings
from mcp_memory.embeddings.base import Embedder
from mcp_memory.models import SearchHit
from mcp_memory.search import language, ranking
from mcp_memory.search.context import neighbours_in
from mcp_memory.search.sessions import Key, SessionOrders
from mcp_memory.store.ledger import KeywordIndex, MemoryReader, SessionStore
from mcp_memory.store.records import CandidateRow, MemoryFilter, Session
from mcp_memory.store.vectors import VectorIndex, scores_in_place, similarities

# Above this many matching memories, an approximate search filters the graph's nearest
# afterwards (over-fetching as needed) instead of passing the graph every matching id.
_BRUTE_FORCE_MAX_IDS = 10_000
LOOKUP_THREADS = 4
"""Threads reading the ledger beside a search's own thread: the keyword lookup and the
filter's count while the query is embedded, the candidates' rows while the index scores them
(a search uses at most two at once)."""


class SearchLedger(MemoryReader, KeywordIndex, SessionStore, Protocol):
    """What a search reads from the ledger: counts and ids under a filter, the keyword index,
    sessions and their order verdicts, and the rows ranking reads."""


@dataclass(frozen=True)
class Gathered:
    """Everything a search ranks (see ``SearchPipeline.gather`` and ``ranking.rank``)."""

    candidates: list[ranking.Candidate]
    neighbours: dict[str, list[tuple[int, str]]]
    terms: ranking.Terms
    trust: dict[str, float]


@dataclass(frozen=True)
class _Keywords:
    """The query's looked-up terms, their document counts in the scope (out of
    ``every_stage`` memories) and the keyword index's best matches."""

    words: list[str]
    counts: Mapping[str, int]
    every_stage: int
    matched: list[str]
    sessions: _Sessions | None = None
    """The sessions of the best matches, read on the lookup thread (``SearchPipeline.gather``)."""


@dataclass(frozen=True)
class _Sessions:
    """Sessions read for some seeds (``looked_up``): each with its order trust, and those read
    as conversations (whose neighbours give context)."""

    looked_up: list[str]
    sessions: list[Session]
    trust: dict[Key, float]
    conversations: list[Session]


class SearchPipeline:
    """Gathers and ranks the memories that answer a query within a filter.

    ``orders`` keeps each session's order verdicts."""

    def __init__(
        self,
        ledger: SearchLedger,
        index: VectorIndex,
        embedder: Embedder,
        weights: RankingSettings,
        exact_search_max: int,
    ):
        self.ledger = ledger
        self.index = index
        self.embedder = embedder
        self.weights = weights
        self.exact_search_max = exact_search_max
        self.orders = SessionOrders(lambda ids: self.index.vectors(ids), store=ledger)
        self._lookups = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="keyword-lookup")

    def close(self) -> None:
        """Let the keyword lookups under way finish, and stop their threads."""
        self._lookups.shutdown(wait=True)

    def ranked(self, query: str, flt: MemoryFilter, limit: int, now: datetime) -> list[SearchHit]:
        """The ``limit`` best memories for ``query`` within ``flt``, best first."""
        pool = self.gather(query, flt, limit)
        ranked = ranking.rank(
            query, pool.candidates, pool.neighbours, self.weights, now, pool.terms, pool.trust
        )[:limit]
        similarity = {c.id: c.similarity for c in pool.candidates}
        memories = self.ledger.get_many([s.id for s in ranked])
        return [
            SearchHit(
                id=s.id,
                content=memories[s.id].content,
                score=round(s.score, 6),
                similarity=round(similarity[s.id], 6),
                memory=memories[s.id],
            )
            for s in ranked
            if s.id in memories
        ]

    def judge(self, sessions: Sequence[Session]) -> dict[Key, float]:
        """Judge these sessions' order now and keep the verdicts (``sessions.py``)."""
        return self.orders.trust(sessions, self.weights)

    def gather(self, query: str, flt: MemoryFilter, limit: int) -> Gathered:
        """What a search ranks: the nearest vectors, the best keyword matches and the memories
        around them in their sessions (each with its cosine and keyword score: BM25 over the
        query terms it holds, computed the same way for every candidate), their
        neighbours, which of them hold which query term, and how far each session's order
        counts. All read from the stores at query time, so updates, deletes, merges and
        restarts are reflected at once.

        Sessions are read around the best ``context_seeds`` (or ``limit``) of each list only:
        a search costs what it brings in, and the neighbours of a weak seed are rarely the
        answer (LoCoMo recall@10 moved by 0.003 when they were left out).

        The keyword lookup runs on a thread of its own while the query is embedded and its
        nearest vectors found (and the filter's count on another, which the nearest need):
        neither needs the other, and each mostly waits (on the model's
        native code, on the database), so a search costs the longer of the two, not both. A
        query whose vector is at hand (asked before) is searched in one thread: with no model
        to wait for, two threads would only contend for the interpreter (LoCoMo in process,
        vectors at hand: 5.6 ms a search in one thread, 7.4 ms in two)."""
        weights = self.weights
        pool = max(weights.candidate_pool, limit)
        expand = max(weights.context_seeds, limit)
        qvec, dense, known, keywords = self._dense_and_keywords(query, flt, pool, expand)
        matched = keywords.matched if keywords else []
        seeds = list(dict.fromkeys([*dense, *matched]))
        best = list(dict.fromkeys([*list(dense)[:expand], *matched[:expand]]))
        window = max(weights.context_window, weights.context_keyword_window)
        read = self._sessions(best, flt, known, keywords.sessions if keywords else None)
        sessions, trust, conversations = read.sessions, read.trust, read.conversations
        around = neighbours_in(conversations, best, window)
        ids = list(dict.fromkeys([*seeds, *(n for pairs in around.values() for _, n in pairs)]))
        words = keywords.words if keywords and matched else []
        rows, hits, scored = self._rows_and_scores(ids, flt, words, qvec, dense, known)
        ids = [i for i in ids if i in rows]
        # Every candidate's neighbours, not only the seeds': a reply brought in beside the
        # question it answers takes that question as its context.
        neighbours = neighbours_in(conversations, ids, window)
        dense.update(self._unindexed(qvec, [i for i in ids if i not in dense], scored, rows))
        terms = ranking.NO_TERMS
        if keywords and words:
            terms = ranking.Terms.from_counts(hits, keywords.counts, keywords.every_stage)
        shares = {m: trust[s.key] for s in sessions if s.key in trust for m in s.members}
        return Gathered(_candidates(ids, rows, dense, terms), neighbours, terms, shares)

    def _rows_and_scores(
        self,
        ids: Sequence[str],
        flt: MemoryFilter,
        words: Sequence[str],
        qvec: np.ndarray,
        dense: Mapping[str, float],
        known: Mapping[str, np.ndarray],
    ) -> tuple[dict[str, CandidateRow], dict[str, set[str]], dict[str, float]]:
        """What ranking reads of the candidates that pass the filter and which of them hold
        each looked-up word (``candidates_with_terms``), and the cosines of those the dense
        search did not bring: from the vectors it read, else scored by the index where it
        holds them (``similarities``). An index in another process is asked on this thread (a
        search pins its index here) while the ledger is read on a lookup thread: neither needs
        the other (an index in this process is asked after: with SQLite and Chroma, two threads
        made a global search 0.5-1 ms slower, contending for the interpreter)."""
        others = [i for i in ids if i not in dense]
        scored = _cosines(qvec, {i: known[i] for i in others if i in known})
        unknown = [i for i in others if i not in scored]
        if not unknown or not scores_in_place(self.index):
            rows, hits = self.ledger.candidates_with_terms(ids, flt, words)
            return rows, hits, {**scored, **similarities(self.index, qvec, unknown)}
        reading = self._lookups.submit(self.ledger.candidates_with_terms, ids, flt, words)
        try:
            scored.update(similarities(self.index, qvec, unknown))
        finally:
            wait([reading])  # nothing of this search outlives it
        return *reading.result(), scored

    def _unindexed(
        self,
        qvec: np.ndarray,
        ids: Sequence[str],
        scored: Mapping[str, float],
        rows: Mapping[str, CandidateRow],
    ) -> dict[str, float]:
        """The cosines of these candidates: as scored, else embedded now for those the index
        does not hold yet (their outbox entries wait: a full disk, a rebuild), so that a memory
        just stored ranks by its meaning too."""
        found = {i: scored[i] for i in ids if i in scored}
        if waiting := [i for i in ids if i not in found][:UNINDEXED_EMBED_MAX]:
            embedded = self.embedder.embed([rows[i].content for i in waiting])
            found.update(_cosines(qvec, dict(zip(waiting, embedded, strict=True))))
        return found

    def _dense_and_keywords(
        self, query: str, flt: MemoryFilter, pool: int, expand: int
    ) -> tuple[np.ndarray, dict[str, float], dict[str, np.ndarray], _Keywords | None]:
        """The query's vector, the dense search's similarities and the vectors it read, and
        the keyword lookup (None when ranking gives keywords no weight); see ``gather`` for
        the threads."""
        weights = self.weights
        count_scope = lambda: self.ledger.count(MemoryFilter(scope=flt.scope))  # noqa: E731
        if not (weights.keyword_weight > 0 or weights.context_keyword_weight > 0):
            qvec = self.embedder.embed_query(query)
            return qvec, *self.dense(qvec, flt, pool, cache(count_scope)), None
        size: Future[int] = Future()
        qvec = self.embedder.cached_query(query)
        if qvec is not None:
            keywords = self._keywords(query, flt, pool, count_scope, size)
            return qvec, *self.dense(qvec, flt, pool, size.result), keywords
        lookup = self._lookups.submit(self._keywords, query, flt, pool, count_scope, size, expand)
        matching = self._lookups.submit(self.ledger.count, flt)
        try:
            qvec = self.embedder.embed_query(query)
            dense, known = self.dense(qvec, flt, pool, size.result, matching.result)
        except BaseException:
            wait([lookup, matching])  # nothing of this search outlives it
            raise
        return qvec, dense, known, lookup.result()

    def _keywords(
        self,
        query: str,
        flt: MemoryFilter,
        pool: int,
        count_scope: Callable[[], int],
        size: Future[int],
        expand: int = 0,
    ) -> _Keywords:
        """The query's content words, those worth looking up (a word most of the scope holds
        is left out: ``search_terms``) and the keyword index's best matches for them. Counts
        the scope first, for the dense search too (``size``): this thread then reads the
        scope's size and term counts, then looks the terms up, in that order, as a ledger
        that keeps what a thread read last for the lookup that follows expects. With
        ``expand``, it also reads the sessions of the best ``expand`` matches (while the
        query is still being embedded: the search thread then reads only those of its nearest
        that these sessions do not hold)."""
        try:
            every_stage = count_scope()
        except BaseException as exc:
            size.set_exception(exc)
            raise
        size.set_result(every_stage)
        asked = language.content_terms(query)
        counts = self.ledger.term_counts(asked, flt.scope)
        words = language.search_terms(
            asked, counts, every_stage, self.weights.keyword_lookup_max_share
        )
        matched = self.keyword_seeds(words, counts, flt, pool)
        early = self._sessions(matched[:expand], flt, {}) if expand else None
        return _Keywords(words, counts, every_stage, matched, early)

    def _sessions(
        self,
        best: Sequence[str],
        flt: MemoryFilter,
        known: Mapping[str, np.ndarray],
        early: _Sessions | None = None,
    ) -> _Sessions:
        """The sessions of the best seeds, each one's order trust, and those read as
        conversations. Sessions ``early`` read for some of them are kept: only the seeds they
        neither looked up nor hold are read now."""
        weights = self.weights
        if not (weights.context_semantic_weight > 0 or weights.context_keyword_weight > 0):
            return _Sessions(list(best), [], self.orders.trust([], weights, known), [])
        rest = list(best)
        if early is not None:
            done = {*early.looked_up, *(m for session in early.sessions for m in session.members)}
            rest = [i for i in best if i not in done]
        sessions = self.ledger.sessions(rest, flt) if rest else []
        trust = self.orders.trust(sessions, weights, known)
        if early is not None:
            sessions, trust = [*early.sessions, *sessions], {**early.trust, **trust}
        conversations = [s for s in sessions if trust.get(s.key, 1.0) > 0]
        return _Sessions(list(best), sessions, trust, conversations)

    def keyword_seeds(
        self, lookup: Sequence[str], counts: Mapping[str, int], flt: MemoryFilter, pool: int
    ) -> list[str]:
        """The keyword index's best ``pool`` matches for the looked-up terms.

        Ranking every memory that holds any of the terms is what a keyword lookup costs
        (FTS5 scores each: about 0.45 us, so 11 ms for 25,000 at 100k memories). When the
        terms are held that widely (``keyword_all_terms_over``), the memories holding all of
        them are ranked first, which is cheap (the index skips through the rarest term's
        list); BM25 puts them ahead of memories holding fewer terms in nearly every case. The
        rest are ranked only when those are fewer than the pool."""
        holding_all: list[str] = []
        held = sum(counts.get(t, 0) for t in lookup)
        if len(lookup) > 1 and held > self.weights.keyword_all_terms_over:
            ranked = self.ledger.keyword_search(lookup, flt, pool, every=True)
            holding_all = [i for i, _ in ranked]
            if len(holding_all) >= pool:
                return holding_all
        found = [i for i, _ in self.ledger.keyword_search(lookup, flt, pool)]
        return list(dict.fromkeys([*holding_all, *found]))[:pool]

    def dense(
        self,
        qvec: np.ndarray,
        flt: MemoryFilter,
        k: int,
        scope_size: Callable[[], int] | None = None,
        filtered: Callable[[], int] | None = None,
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Cosine similarities of the k nearest memories that pass the filter, and the vectors
        read on the way (an exact search reads its whole scope: the rest of the search uses
        them instead of reading them again). ``scope_size`` counts the scope's memories, every
        stage (read once per search: a shared store answers each read over the network), and
        ``filtered`` those passing the filter (counted while the query is embedded)."""
        if scope_size is None:
            scope_size = cache(lambda: self.ledger.count(MemoryFilter(scope=flt.scope)))
        matching = filtered() if filtered is not None else self.ledger.count(flt)
        if matching == 0:
            return {}, {}
        scope = {key: value for key, value in flt.scope.model_dump().items() if value}
        if matching <= self.exact_search_max and (scope or not _scope_only(flt)):
            return self._exact(qvec, flt, scope, matching < scope_size(), k)
        return self._approximate(qvec, flt, scope, matching, k), {}

    def _approximate(
        self, qvec: np.ndarray, flt: MemoryFilter, scope: dict[str, str], matching: int, k: int
    ) -> dict[str, float]:
        """The HNSW graph's nearest, for a search too wide to be exact."""
        if _scope_only(flt) or matching > _BRUTE_FORCE_MAX_IDS:
            fetch = k
            while True:
                hits = self.index.query(qvec, fetch + 8, scope=scope)
                kept = self.ledger.filter_ids([h.id for h in hits], flt)
                found = {h.id: h.similarity for h in hits if h.id in kept}
                if len(found) >= min(k, matching) or len(hits) < fetch + 8:
                    return dict(list(found.items())[:k])
                fetch *= 4
        hits = self.index.query(qvec, k, ids=self.ledger.ids(flt))
        return {h.id: h.similarity for h in hits}

    def _exact(
        self, qvec: np.ndarray, flt: MemoryFilter, scope: dict[str, str], fewer: bool, k: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Exact search over a small scope or filtered set: no HNSW filter, no over-fetching.

        The ids are passed only when the filter drops some of the scope's memories (``fewer``:
        archived ones, or other filters); otherwise the scope alone selects the vectors.
        """
        ids = None
        if not _scope_only(flt) or fewer:
            ids = self.ledger.ids(flt)
        block = self.index.read_scope(scope, ids)
        if block is None:
            hits = self.index.query(qvec, k, scope=scope, ids=ids)
            return {h.id: h.similarity for h in hits}, {}
        return {h.id: h.similarity for h in block.nearest(qvec, k)}, block.by_id()


def _candidates(
    ids: Sequence[str],
    rows: Mapping[str, CandidateRow],
    dense: Mapping[str, float],
    terms: ranking.Terms,
) -> list[ranking.Candidate]:
    """The candidates with their raw signals: cosine, keyword score (BM25 over the query
    terms each holds), importance, age and whether it belongs to a session."""
    keyword = ranking.presence_bm25({i: rows[i].content for i in ids}, terms)
    return [
        ranking.Candidate(
            id=i,
            content=rows[i].content,
            similarity=dense.get(i, 0.0),
            keyword=keyword.get(i, 0.0),
            importance=rows[i].importance,
            created_at=rows[i].created_at,
            in_session=rows[i].in_session,
        )
        for i in ids
    ]


UNINDEXED_EMBED_MAX = 64
"""Candidates without a vector in the index embedded at query time, at most (a few ms each)."""


def _cosines(qvec: np.ndarray, vectors: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {i: float(np.dot(qvec, v)) for i, v in vectors.items()}


def _scope_only(flt: MemoryFilter) -> bool:
    """True when a filter only narrows by scope (and hides archived memories)."""
    return (
        flt.memory_type is None
        and flt.category is None
        and not flt.metadata
        and flt.since is None
        and flt.until is None
        and flt.stages is None
    )

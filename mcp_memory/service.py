"""MemoryService: the memory core as a plain Python API, shared by the server, CLI, tests, benchmarks.

It composes the ledger (truth), the vector index (derived), the embedder and the policy
modules. Every method validates its arguments first and raises ``InvalidInput`` before changing
anything. Writes go ledger first (with an index-queue entry in the same transaction), then the
vector index, then the queue entry is cleared; ``sync_index`` finishes whatever a crash left.
Methods are blocking; the MCP layer runs them in worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import (
    ConsolidationSettings,
    ImportanceSettings,
    LimitSettings,
    PerformanceSettings,
    RankingSettings,
    RedactionSettings,
    RetentionSettings,
)
from mcp_memory.consolidation.runner import Consolidator
from mcp_memory.embeddings.base import Embedder
from mcp_memory.errors import InvalidInput, MemoryNotFound
from mcp_memory.indexing.guard import IndexGuard
from mcp_memory.indexing.write_behind import WriteBehind
from mcp_memory.ledger.sqlite import Ledger
from mcp_memory.models import (
    AddResult,
    AgeDistribution,
    Category,
    ConsolidateResult,
    DeleteResult,
    EventKind,
    HistoryResult,
    IndexReport,
    ListOrder,
    ListResult,
    Memory,
    MemoryResult,
    MemoryType,
    Retention,
    SearchHit,
    SearchResult,
    Stage,
    StatsResult,
)
from mcp_memory.policy import access, lifecycle, redaction, validation
from mcp_memory.policy.importance import importance_of
from mcp_memory.search import ranking
from mcp_memory.search.context import neighbours_in
from mcp_memory.search.sessions import SessionOrders
from mcp_memory.store.records import ImportRow, MemoryFilter
from mcp_memory.store.vectors import VectorIndex, VectorRecord, known_or_read
from mcp_memory.transfer.records import RecordPolicy, parse_many, to_record

logger = logging.getLogger(__name__)

ARCHIVED = (Stage.archived.value,)
INDEX_GENERATION = "index_generation"
INDEX_LOCK_FILE = "index.lock"
# Up to this many memories, start-up reconciliation compares every id and runs FTS5's integrity
# check (~0.16 s at 10k, holding the ledger's connection for part of it: the first searches
# wait); above, it compares counts (a few ms), and the full checks run only if they differ.
FULL_CHECK_MAX = 5_000
_BRUTE_FORCE_MAX_IDS = 10_000
_ADD_ARGS = (
    "user_id", "agent_id", "session_id", "memory_type", "category", "metadata", "importance",
    "retention", "created_at",
)  # fmt: skip


@dataclass
class ImportReport:
    """What an import did: memories stored, and records skipped as already present."""

    imported: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Gathered:
    """Everything a search ranks (see ``MemoryService.gather`` and ``ranking.rank``)."""

    candidates: list[ranking.Candidate]
    neighbours: dict[str, list[tuple[int, str]]]
    terms: ranking.Terms
    trust: dict[str, float]


@dataclass(frozen=True)
class Policy:
    """The settings sections the service acts on, passed in explicitly."""

    limits: LimitSettings = field(default_factory=LimitSettings)
    importance: ImportanceSettings = field(default_factory=ImportanceSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    ranking: RankingSettings = field(default_factory=RankingSettings)
    consolidation: ConsolidationSettings = field(default_factory=ConsolidationSettings)
    redaction: RedactionSettings = field(default_factory=RedactionSettings)
    performance: PerformanceSettings = field(default_factory=PerformanceSettings)


class MemoryService:
    """Add, search, get, list, update, delete, history, stats and consolidate memories."""

    def __init__(
        self,
        ledger: Ledger,
        embedder: Embedder,
        open_index: Callable[[], VectorIndex],
        policy: Policy | None = None,
        clock: Clock = utc_now,
        data_dir: Path | None = None,
    ):
        self.ledger = ledger
        self.embedder = embedder
        self.policy = policy or Policy()
        self.clock = clock
        self.data_dir = data_dir
        self._open_index = open_index
        self._guard = IndexGuard(
            open_index,
            generation=lambda: ledger.counter(INDEX_GENERATION),
            bump=lambda: ledger.bump_counter(INDEX_GENERATION),
            lock_path=data_dir / INDEX_LOCK_FILE if data_dir else None,
        )
        red = self.policy.redaction
        self._redaction_rules = (
            redaction.compile_rules(red.patterns, red.disabled, red.builtin_patterns)
            if red.enabled
            else ()
        )
        self.consolidator = Consolidator(
            ledger=ledger,
            vectors=lambda ids: self.index.vectors(ids),
            write_index=self._write_index,
            sync_index=self.sync_index,
            retention=self.policy.retention,
            rules=self.policy.consolidation,
            clock=clock,
        )
        self._orders = SessionOrders(lambda ids: self.index.vectors(ids), store=ledger)
        self._sync_lock = threading.RLock()
        self._closed = False
        perf = self.policy.performance
        self._behind = WriteBehind(
            self._write_handed_over, perf.write_behind_quiet_s, perf.write_behind_max_delay_s
        )

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def index(self) -> IndexGuard:
        """The vector index, opened on first use (it may need the model's dimension) and
        reopened when another process sharing the data dir has changed it (index_guard.py)."""
        return self._guard

    def defer_index_open(self) -> None:
        """Until the next ``reconcile`` (the server's warm-up runs it at a quiet moment), a
        search over everything scans the local scoped copy exactly rather than open the HNSW
        graph itself: opening it costs about a second at 100k memories, half of it holding the
        GIL (Chroma's Rust core), which would stall every other call meanwhile."""
        self._guard.defer_open()

    def warm_up(self) -> None:
        """Load the model and, meanwhile, open the index and reconcile it with the ledger: call
        once at start. The two overlap: much of each runs outside the GIL (ONNX Runtime's
        session, Chroma's Rust core), and a first search needs only the model."""
        failed: list[BaseException] = []

        def load() -> None:
            try:
                self.embedder.embed_query("warm up")
            except BaseException as exc:  # re-raised below, in the caller's thread
                failed.append(exc)

        model = threading.Thread(target=load, name="model-load", daemon=True)
        model.start()
        try:
            self.reconcile()
        finally:
            model.join()
        if failed:
            raise failed[0]

    def close(self) -> None:
        """Finish the queued vector writes (what fails stays in the outbox), then close."""
        if self._closed:
            return
        self._closed = True
        self._behind.close()
        self.flush(quietly=True)
        self._guard.close()
        self.ledger.close()

    def flush(self, quietly: bool = False) -> None:
        """Wait until the vector writes that ``add`` left to the background thread have reached
        the index (write_behind.py). What a crash left queued is not touched here: start-up
        reconciliation and search apply it. ``quietly`` logs a failed write instead of
        raising; it stays queued either way."""
        if not self._behind.holding():
            return
        try:
            self.sync_index()
        except Exception:
            if not quietly:
                raise
            logger.exception("vector index update failed; it stays queued and will be retried")

    def _write_handed_over(self) -> None:
        """The write-behind thread's work: the queue, if vectors handed over by ``add`` are
        still unwritten once it holds the lock (a search or flush may have written them)."""
        with self._sync_lock:
            if self._behind.holding():
                self.sync_index()

    def reconcile(self) -> dict[str, Any]:
        """Finish or undo what a crash left half done; cheap when nothing is wrong.

        Applies the queued index changes, then compares the vector index with the ledger: id by
        id for a store of up to ``FULL_CHECK_MAX`` memories, by count alone above that (the full
        scan then runs only when the counts differ); repairs what differs, and rebuilds the
        keyword index if its check fails (FTS5's integrity check up to ``FULL_CHECK_MAX``
        memories, the indexed-document count above). Returns what it did.
        """
        try:
            return self._reconcile()
        finally:
            self._guard.defer_open(False)

    def _reconcile(self) -> dict[str, Any]:
        done: dict[str, Any] = {"applied": self.sync_index(), "repaired": None}
        with self._writing():
            memories = self.ledger.count(MemoryFilter())
            if memories <= FULL_CHECK_MAX or memories != self.index.count():
                before = self.index_report()
                # Pending entries are not damage: a concurrent write may have queued one.
                if before.missing or before.orphans:
                    self.repair_index()
                    done["repaired"] = {
                        "missing": len(before.missing),
                        "orphans": len(before.orphans),
                    }
        done["keyword_index_rebuilt"] = not self.ledger.keyword_index_ok(
            full=memories <= FULL_CHECK_MAX
        )
        if done["keyword_index_rebuilt"]:
            self.ledger.rebuild_keyword_index()
        if done["applied"] or done["repaired"] or done["keyword_index_rebuilt"]:
            logger.warning("start-up reconciled the stores after an interruption: %s", done)
        return done

    def sync_index(self, batch: int = 256) -> int:
        """Apply every queued index change (an add's write-behind, or what a crash or a failed
        write left); returns how many. Vectors an add handed over are used, not re-computed."""
        done = 0
        with self._sync_lock:
            while entries := self.ledger.pending_index(limit=batch):
                ids = [mid for mid, _ in entries]
                vectors, sources = self._behind.take(ids)
                self._apply_index(entries, vectors, sources)
                self._behind.written(ids)
                done += len(entries)
        return done

    def index_report(self) -> IndexReport:
        """Compare every ledger id with every vector id (a full scan: for doctor, not hot paths)."""
        self.flush(quietly=True)
        with self._writing():
            ledger_ids = set(self.ledger.ids(MemoryFilter()))
            vector_ids = set(self.index.all_ids())
        return IndexReport(
            memories=len(ledger_ids),
            vectors=len(vector_ids),
            pending=self.ledger.count_pending(),
            missing=sorted(ledger_ids - vector_ids),
            orphans=sorted(vector_ids - ledger_ids),
        )

    def repair_index(self) -> IndexReport:
        """Apply queued changes, embed missing memories, drop orphan vectors; report the result."""
        with self._writing():
            self.sync_index()
            report = self.index_report()
            for start in range(0, len(report.missing), 256):
                chunk = report.missing[start : start + 256]
                self._apply_index([(mid, "upsert") for mid in chunk])
            self.index.delete(report.orphans)
            return self.index_report()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The index write lock, taken after the sync lock. ``sync_index`` holds the sync lock
        when it writes the index, so every path takes the two in this order and none can hold
        one while waiting for the other."""
        with self._sync_lock, self._guard.writing():
            yield

    def _apply_index(
        self,
        entries: Sequence[tuple[str, str]],
        vectors: dict[str, np.ndarray] | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        """Bring the index in line with the ledger for these queue entries, then clear them.

        Holds the index write lock throughout, so another process's change to the same memory
        is applied wholly before or wholly after this one. ``sources`` names the text each
        given vector was embedded from: if another writer has replaced that text meanwhile,
        the vector is stale and the current text is embedded instead.
        """
        with self._writing():
            self._apply_index_locked(entries, vectors, sources or {})

    def _apply_index_locked(
        self,
        entries: Sequence[tuple[str, str]],
        vectors: dict[str, np.ndarray] | None,
        sources: dict[str, str],
    ) -> None:
        vectors = dict(vectors or {})
        upserts = [mid for mid, op in entries if op == "upsert"]
        deletes = [mid for mid, op in entries if op == "delete"]
        memories = self.ledger.get_many(upserts)
        for mid, text in sources.items():
            if mid in memories and memories[mid].content != text:
                vectors.pop(mid, None)
        gone = [mid for mid in upserts if mid not in memories]
        missing = [mid for mid in upserts if mid in memories and mid not in vectors]
        if missing:
            embedded = self.embedder.embed([memories[mid].content for mid in missing])
            vectors.update(zip(missing, embedded, strict=True))
        records = [_record(memories[mid], vectors[mid]) for mid in upserts if mid in memories]
        self.index.upsert(records)
        self.index.delete(deletes + gone)
        self.ledger.mark_indexed(entries)

    def _write_index(self, entries: Sequence[tuple[str, str]], vectors=None, sources=None) -> None:
        """Apply index changes now; on failure they stay queued for ``sync_index``."""
        try:
            self._apply_index(entries, vectors, sources)
        except Exception:
            logger.exception("vector index update failed; it stays queued and will be retried")

    # -- add ---------------------------------------------------------------------------------

    def add(
        self,
        content: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        memory_type: str = MemoryType.semantic,
        category: str = Category.general,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        retention: str | None = None,
        created_at: str | datetime | None = None,
    ) -> AddResult:
        """Store a memory; an exact duplicate in the same scope returns the existing one.

        Secrets in the content or metadata are redacted first (the reply lists their kinds).
        """
        now = self.clock()
        content, metadata, redacted = self._redact(content, metadata)
        memory = self._new_memory(
            content, user_id, agent_id, session_id, memory_type, category, metadata,
            importance, retention, created_at, now,
        )  # fmt: skip
        vector = self.embedder.embed([memory.content])[0]
        existing = self.ledger.insert_unless_duplicate(
            memory, validation.content_hash(memory.content)
        )
        if existing is not None:
            return AddResult(
                id=existing.id, memory=existing, duplicate_of=existing.id, redacted=redacted
            )
        self._behind.hand_over(memory.id, memory.content, vector)
        return AddResult(id=memory.id, memory=memory, redacted=redacted)

    def _redact(self, content: Any, metadata: Any) -> tuple[Any, Any, list[str]]:
        """Content and metadata with secrets replaced, and the kinds found (none if disabled)."""
        if not self._redaction_rules:
            return content, metadata, []
        replacement = self.policy.redaction.replacement
        kinds: set[str] = set()
        if isinstance(content, str):
            content, found = redaction.redact(content, self._redaction_rules, replacement)
            kinds.update(found)
        if isinstance(metadata, dict):
            metadata, found = redaction.redact_value(metadata, self._redaction_rules, replacement)
            kinds.update(found)
        return content, metadata, sorted(kinds)

    def _new_memory(
        self, content, user_id, agent_id, session_id, memory_type, category, metadata,
        importance, retention, created_at, now: datetime,
    ) -> Memory:  # fmt: skip
        limits = self.policy.limits
        text = validation.content(content, limits)
        scope = validation.scope(limits, user_id, agent_id, session_id)
        mtype = validation.choice(memory_type, MemoryType, "memory_type")
        cat = validation.choice(category, Category, "category")
        meta = validation.metadata(metadata, limits)
        if importance is None:
            score = importance_of(text, cat.value, self.policy.importance)
        else:
            score = validation.unit_interval(importance, "importance")
        if retention is None:
            tier = lifecycle.retention_for(score, self.policy.retention)
        else:
            tier = validation.choice(retention, Retention, "retention")
        created = (
            now
            if created_at is None
            else validation.timestamp(created_at, "created_at", now, allow_future=False)
        )
        return Memory(
            id=uuid.uuid4().hex,
            content=text,
            **scope.model_dump(),
            memory_type=mtype,
            category=cat,
            metadata=meta,
            importance_score=score,
            retention=tier,
            lifecycle_stage=Stage.active,
            access_count=0,
            created_at=created,
            updated_at=now,
            version=1,
        )

    # -- bulk: add many, import, export ------------------------------------------------------

    def add_many(self, items: Sequence[dict[str, Any]], batch_size: int = 256) -> list[AddResult]:
        """``add`` for many memories (each a dict of its keyword arguments), batched.

        Every item is validated before anything is stored; then each batch costs one batched
        encode, one ledger transaction and one index write.
        """
        now = self.clock()
        rows = []
        for number, item in enumerate(items, 1):
            if not isinstance(item, dict) or "content" not in item:
                raise InvalidInput(f"item {number}: give a dict with at least 'content'")
            if unknown := sorted(set(item) - {"content", *_ADD_ARGS}):
                raise InvalidInput(f"item {number}: unknown argument(s) {', '.join(unknown)}")
            args = {"content": item["content"], **{k: item.get(k) for k in _ADD_ARGS}}
            try:
                memory = self._new_memory(
                    **{**args, "memory_type": args["memory_type"] or MemoryType.semantic,
                       "category": args["category"] or Category.general}, now=now,
                )  # fmt: skip
            except (InvalidInput, TypeError) as exc:
                raise InvalidInput(f"item {number}: {exc}") from None
            rows.append(ImportRow(memory, validation.content_hash(memory.content), dedupe=True))
        results = []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            outcome = self._store_batch(batch)
            existing = self.ledger.get_many([o for o in outcome if o is not None])
            for row, dup in zip(batch, outcome, strict=True):
                if dup is None:
                    results.append(AddResult(id=row.memory.id, memory=row.memory))
                else:
                    results.append(AddResult(id=dup, memory=existing[dup], duplicate_of=dup))
        return results

    def import_records(
        self,
        records: Iterable[Any],
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Store exported (or minimal) records, a batch at a time; see ``mcp_memory.bulk``.

        Ids already stored are skipped, so importing twice changes nothing. A bad record raises
        ``InvalidInput`` naming its number before its batch is written (``check_records``
        validates a whole file first, so that nothing at all is stored).
        """
        report = ImportReport()
        policy = self._record_policy()
        sessions: dict[tuple[str, str, str], str] = {}
        batch: list[tuple[int, Any]] = []
        for number, record in enumerate(records, 1):
            batch.append((number, record))
            if len(batch) >= batch_size:
                self._import_batch(batch, policy, report, progress, sessions)
                batch = []
        if batch:
            self._import_batch(batch, policy, report, progress, sessions)
        self.judge_sessions(list(sessions.values()))
        return report

    def judge_sessions(self, ids: Sequence[str], chunk: int = 2000) -> None:
        """Judge the order of the sessions these memories belong to and keep the verdicts
        (``sessions.py``), so the first searches after an import find them ready.

        Only a head start: when it cannot be done (the vector index unreachable), it is
        logged, and searches judge the sessions themselves when they first meet them."""
        flt = MemoryFilter(exclude_stages=ARCHIVED)
        try:
            self.flush()
            for start in range(0, len(ids), chunk):
                found = self.ledger.sessions(ids[start : start + chunk], flt)
                self._orders.trust(found, self.policy.ranking)
        except Exception:
            logger.warning("sessions not judged ahead; searches will judge them", exc_info=True)

    def check_records(self, records: Iterable[Any]) -> int:
        """Validate records without storing anything; returns how many there are."""
        policy, now, count = self._record_policy(), self.clock(), 0
        for number, record in enumerate(records, 1):
            parse_many([(number, record)], policy, now)
            count = number
        return count

    def export_records(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        batch_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every memory in the scope (all stages), oldest first, with its history."""
        flt = MemoryFilter(
            scope=validation.scope(self.policy.limits, user_id, agent_id, session_id)
        )
        for memories in self.ledger.iter_memories(flt, batch_size):
            history = self.ledger.history_many([m.id for m in memories])
            for memory in memories:
                yield to_record(memory, history[memory.id])

    def count(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> int:
        """How many memories the scope holds (all stages)."""
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        return self.ledger.count(MemoryFilter(scope=scope))

    def _record_policy(self) -> RecordPolicy:
        return RecordPolicy(self.policy.limits, self.policy.importance, self.policy.retention)

    def _import_batch(
        self, batch: list[tuple[int, Any]], policy: RecordPolicy, report: ImportReport,
        progress: Callable[[int], None] | None, sessions: dict[tuple[str, str, str], str],
    ) -> None:  # fmt: skip
        rows = parse_many(batch, policy, self.clock())
        outcome = self._store_batch(rows)
        for row in rows:
            m = row.memory
            if m.session_id:
                sessions.setdefault((m.user_id, m.agent_id, m.session_id), m.id)
        stored = sum(o is None for o in outcome)
        report.imported += stored
        report.skipped += len(outcome) - stored
        if progress is not None:
            progress(len(batch))

    def _store_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """One batched encode (of the rows not already stored), one transaction, one index write."""
        present = self.ledger.filter_ids([r.memory.id for r in rows], MemoryFilter())
        todo = [r for r in rows if r.memory.id not in present]
        vectors = self.embedder.embed([r.memory.content for r in todo]) if todo else []
        outcome = self.ledger.import_batch(rows)
        stored = {r.memory.id for r, o in zip(rows, outcome, strict=True) if o is None}
        self._write_index(
            [(mid, "upsert") for mid in stored],
            {r.memory.id: v for r, v in zip(todo, vectors, strict=True) if r.memory.id in stored},
        )
        return outcome

    # -- search ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        memory_type: str | None = None,
        category: str | None = None,
        metadata: dict[str, Any] | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        limit: int = 10,
        min_score: float | None = None,
        include_archived: bool = False,
    ) -> SearchResult:
        """The memories that best answer ``query`` within the filters, best first."""
        now = self.clock()
        text = validation.content(query, self.policy.limits, field="query")
        limit = validation.limit(limit, self.policy.limits)
        if min_score is not None and (
            isinstance(min_score, bool) or not isinstance(min_score, (int, float))
        ):
            raise InvalidInput("min_score must be a number")
        flt = self._filter(
            user_id, agent_id, session_id, memory_type, category, metadata, since, until, now,
            stages=None, include_archived=include_archived,
        )  # fmt: skip
        if self.ledger.count_pending():
            self.sync_index()
        hits = self._ranked(text, flt, limit, now)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        self.ledger.touch([h.id for h in hits], now)
        for hit in hits:
            hit.memory.access_count += 1
            hit.memory.last_accessed = now
        return SearchResult(results=hits, query=text)

    def _ranked(self, query: str, flt: MemoryFilter, limit: int, now: datetime) -> list[SearchHit]:
        pool = self.gather(query, flt, limit)
        weights = self.policy.ranking
        ranked = ranking.rank(
            query, pool.candidates, pool.neighbours, weights, now, pool.terms, pool.trust
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

    def gather(self, query: str, flt: MemoryFilter, limit: int) -> Gathered:
        """What a search ranks: the nearest vectors, the best keyword matches and the memories
        around them in their sessions (each with its cosine and keyword score: BM25 over the
        query terms it holds, computed the same way for every candidate), their
        neighbours, which of them hold which query term, and how far each session's order
        counts. All read from the stores at query time, so updates, deletes, merges and
        restarts are reflected at once.

        Sessions are read around the best ``context_seeds`` (or ``limit``) of each list only:
        a search costs what it brings in, and the neighbours of a weak seed are rarely the
        answer (LoCoMo recall@10 moved by 0.003 when they were left out)."""
        weights = self.policy.ranking
        pool = max(weights.candidate_pool, limit)
        qvec = self.embedder.embed_query(query)
        dense, known = self._dense(qvec, flt, pool)
        matched: list[str] = []
        if weights.keyword_weight > 0 or weights.context_keyword_weight > 0:
            asked = ranking.content_terms(query)
            counts = self.ledger.term_counts(asked, flt.scope)
            every_stage = self.ledger.count(MemoryFilter(scope=flt.scope))
            words = ranking.search_terms(
                asked, counts, every_stage, weights.keyword_lookup_max_share
            )
            matched = self._keyword_seeds(words, counts, flt, pool)
        seeds = list(dict.fromkeys([*dense, *matched]))
        expand = max(weights.context_seeds, limit)
        best = list(dict.fromkeys([*list(dense)[:expand], *matched[:expand]]))
        window = max(weights.context_window, weights.context_keyword_window)
        sessions = []
        if weights.context_semantic_weight > 0 or weights.context_keyword_weight > 0:
            sessions = self.ledger.sessions(best, flt)
        trust = self._orders.trust(sessions, weights, known)
        conversations = [s for s in sessions if trust.get(s.key, 1.0) > 0]
        around = neighbours_in(conversations, best, window)
        ids = list(dict.fromkeys([*seeds, *(n for pairs in around.values() for _, n in pairs)]))
        rows = self.ledger.candidates(ids, flt)
        ids = [i for i in ids if i in rows]
        # Every candidate's neighbours, not only the seeds': a reply brought in beside the
        # question it answers takes that question as its context.
        neighbours = neighbours_in(conversations, ids, window)
        missing = [i for i in ids if i not in dense]
        if missing:
            dense.update(_cosines(qvec, known_or_read(missing, known, self.index.vectors)))
        terms = ranking.NO_TERMS
        if matched:
            hits = self.ledger.term_hits(words, rows, flt.scope)
            terms = ranking.Terms.from_counts(hits, counts, every_stage)
        keyword = ranking.presence_bm25({i: rows[i].content for i in ids}, terms)
        candidates = [
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
        shares = {m: trust[s.key] for s in sessions if s.key in trust for m in s.members}
        return Gathered(candidates, neighbours, terms, shares)

    def _keyword_seeds(
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
        if len(lookup) > 1 and held > self.policy.ranking.keyword_all_terms_over:
            ranked = self.ledger.keyword_search(lookup, flt, pool, every=True)
            holding_all = [i for i, _ in ranked]
            if len(holding_all) >= pool:
                return holding_all
        found = [i for i, _ in self.ledger.keyword_search(lookup, flt, pool)]
        return list(dict.fromkeys([*holding_all, *found]))[:pool]

    def _dense(
        self, qvec: np.ndarray, flt: MemoryFilter, k: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Cosine similarities of the k nearest memories that pass the filter, and the vectors
        read on the way (an exact search reads its whole scope: the rest of the search uses
        them instead of reading them again)."""
        matching = self.ledger.count(flt)
        if matching == 0:
            return {}, {}
        scope = {key: value for key, value in flt.scope.model_dump().items() if value}
        if matching <= self.policy.performance.exact_search_max and (scope or not _scope_only(flt)):
            return self._exact(qvec, flt, scope, matching, k)
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
        self, qvec: np.ndarray, flt: MemoryFilter, scope: dict[str, str], matching: int, k: int
    ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Exact search over a small scope or filtered set: no HNSW filter, no over-fetching.

        The ids are passed only when the filter drops some of the scope's memories (archived
        ones, or other filters); otherwise the scope alone selects the vectors.
        """
        ids = None
        if not _scope_only(flt) or matching < self.ledger.count(MemoryFilter(scope=flt.scope)):
            ids = self.ledger.ids(flt)
        block = self.index.read_scope(scope, ids)
        if block is None:
            hits = self.index.query(qvec, k, scope=scope, ids=ids)
            return {h.id: h.similarity for h in hits}, {}
        return {h.id: h.similarity for h in block.nearest(qvec, k)}, block.by_id()

    def _filter(
        self, user_id, agent_id, session_id, memory_type, category, metadata, since, until,
        now: datetime, stages: tuple[str, ...] | None, include_archived: bool,
    ) -> MemoryFilter:  # fmt: skip
        limits = self.policy.limits
        return MemoryFilter(
            scope=validation.scope(limits, user_id, agent_id, session_id),
            memory_type=None
            if memory_type is None
            else validation.choice(memory_type, MemoryType, "memory_type").value,
            category=None
            if category is None
            else validation.choice(category, Category, "category").value,
            metadata=validation.metadata(metadata, limits),
            since=None if since is None else validation.timestamp(since, "since", now),
            until=None if until is None else validation.timestamp(until, "until", now),
            stages=stages,
            exclude_stages=() if include_archived or stages else ARCHIVED,
        )

    # -- get, list, update, delete, history --------------------------------------------------

    def get(self, memory_id: str) -> MemoryResult:
        """One memory by id; counts as an access."""
        memory = self._existing(memory_id)
        now = self.clock()
        self.ledger.touch([memory.id], now)
        memory.access_count += 1
        memory.last_accessed = now
        return MemoryResult(memory=memory)

    def _existing(self, memory_id: str) -> Memory:
        memory = self.ledger.get(validation.memory_id(memory_id))
        if memory is None or not access.admits(memory):
            raise MemoryNotFound(memory_id)
        return memory

    def list(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        memory_type: str | None = None,
        category: str | None = None,
        stage: str | None = None,
        limit: int = 20,
        offset: int = 0,
        order: str = ListOrder.created,
    ) -> ListResult:
        """A page of memories, newest (or most important, ...) first; archived only by stage."""
        now = self.clock()
        stages = None if stage is None else (validation.choice(stage, Stage, "stage").value,)
        flt = self._filter(
            user_id, agent_id, session_id, memory_type, category, None, None, None, now,
            stages=stages, include_archived=False,
        )  # fmt: skip
        memories, total = self.ledger.query(
            flt,
            validation.choice(order, ListOrder, "order"),
            validation.limit(limit, self.policy.limits),
            validation.offset(offset),
        )
        return ListResult(memories=memories, total=total)

    def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        metadata: dict[str, Any] | None = None,
        importance: float | None = None,
        memory_type: str | None = None,
        category: str | None = None,
        lifecycle_stage: str | None = None,
    ) -> MemoryResult:
        """Change a memory; the new version is recorded in its history (secrets redacted)."""
        limits = self.policy.limits
        content, metadata, redacted = self._redact(content, metadata)
        changes: dict[str, Any] = {}
        if content is not None:
            changes["content"] = validation.content(content, limits)
        if metadata is not None:
            changes["metadata"] = validation.metadata(metadata, limits)
        if importance is not None:
            changes["importance_score"] = validation.unit_interval(importance, "importance")
        if memory_type is not None:
            changes["memory_type"] = validation.choice(memory_type, MemoryType, "memory_type")
        if category is not None:
            changes["category"] = validation.choice(category, Category, "category")
        if lifecycle_stage is not None:
            changes["lifecycle_stage"] = validation.choice(
                lifecycle_stage, Stage, "lifecycle_stage"
            )
        old = self._existing(memory_id)
        if not changes:
            raise InvalidInput(
                "nothing to update: give content, metadata, importance, memory_type, category "
                "or lifecycle_stage"
            )
        now = self.clock()
        new = old.model_copy(update={**changes, "updated_at": now, "version": old.version + 1})
        event = _stage_event(old.lifecycle_stage, new.lifecycle_stage)
        reindex = new.content != old.content
        vector = self.embedder.embed([new.content])[0] if reindex else None
        self.ledger.save(
            new,
            validation.content_hash(new.content),
            event,
            details={"changed": sorted(changes)},
            reindex=reindex,
        )
        if vector is not None:
            self._write_index([(new.id, "upsert")], {new.id: vector}, {new.id: new.content})
        return MemoryResult(memory=new, redacted=redacted)

    def delete(self, memory_id: str) -> DeleteResult:
        """Remove a memory from both stores; its history keeps a DELETE event."""
        memory = self._existing(memory_id)
        self.ledger.delete(memory, self.clock())
        self._write_index([(memory.id, "delete")])
        return DeleteResult(id=memory.id, deleted=True)

    def history(self, memory_id: str) -> HistoryResult:
        """Every event of a memory, oldest first, each with the memory as it stood after it."""
        events = self.ledger.history(validation.memory_id(memory_id))
        if access.current() is not None:
            self._existing(memory_id)  # a bound token sees the history of its live memories only
        if not events:
            raise MemoryNotFound(memory_id)
        return HistoryResult(id=memory_id, events=events)

    # -- stats -------------------------------------------------------------------------------

    def stats(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> StatsResult:
        """Counts and distributions over the memories in the given scope (all stages)."""
        self.flush(quietly=True)
        now = self.clock()
        flt = MemoryFilter(
            scope=validation.scope(self.policy.limits, user_id, agent_id, session_id)
        )
        agg = self.ledger.stats(flt)
        day, week, month = self.ledger.count_created_since(
            flt, [now - timedelta(days=1), now - timedelta(days=7), now - timedelta(days=30)]
        )
        return StatsResult(
            total_memories=agg["total"],
            by_user={(k or "(none)"): v for k, v in agg["by_user"].items()},
            by_type=agg["by_type"],
            by_category=agg["by_category"],
            by_stage=agg["by_stage"],
            by_retention=agg["by_retention"],
            age_distribution=AgeDistribution(
                last_24h=day,
                last_week=week - day,
                last_month=month - week,
                older=agg["total"] - month,
            ),
            average_importance=round(agg["average_importance"], 4),
            vectors_indexed=(vectors := self.index.count()),
            pending_index=(pending := self.ledger.count_pending()),
            index_in_sync=pending == 0 and vectors == self.ledger.count(MemoryFilter()),
            embedder=self.embedder.name,
            storage_bytes=_dir_size(self.data_dir) if self.data_dir else self.ledger.size_bytes(),
            last_consolidation=self.consolidator.last_run(flt.scope),
        )

    # -- consolidate -------------------------------------------------------------------------

    def consolidate(
        self,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        dry_run: bool = False,
        undo: str | None = None,
    ) -> ConsolidateResult:
        """Tidy each scope (merge, boost, decay, stages, archive, cleanup) and journal the run;
        a dry run only reports the same actions; ``undo=RUN_ID`` reverses a journaled run."""
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        if undo is not None:
            if dry_run:
                raise InvalidInput("give dry_run or undo, not both: an undo reports what it did")
            return self.consolidator.undo(undo, scope)
        return self.consolidator.run(scope, bool(dry_run))


def _record(memory: Memory, vector: np.ndarray) -> VectorRecord:
    return VectorRecord(
        id=memory.id,
        vector=vector,
        user_id=memory.user_id or "",
        agent_id=memory.agent_id or "",
        session_id=memory.session_id or "",
    )


def _cosines(qvec: np.ndarray, vectors: dict[str, np.ndarray]) -> dict[str, float]:
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


def _stage_event(old: Stage, new: Stage) -> EventKind:
    if old != new and new == Stage.archived:
        return EventKind.ARCHIVE
    if old == Stage.archived and new != Stage.archived:
        return EventKind.RESTORE
    return EventKind.UPDATE


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

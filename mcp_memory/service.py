"""MemoryService: the memory core as a plain Python API, shared by the server, CLI, tests, benchmarks.

A thin facade over parts with one idea each: ``indexing/sync.py`` keeps the vector index in
line with the ledger (the outbox, its write-behind, reconciliation, repair, the two locks that
order index writes); ``search/pipeline.py`` gathers a query's candidates and ranks them;
``transfer/bulk.py`` adds, imports and exports many memories; ``policy/admission.py`` and
``policy/filters.py`` say what a write lets in and what a read's arguments select;
``consolidation/runner.py`` tidies the store.

Every method validates its arguments first and raises ``InvalidInput`` before changing
anything. Writes go ledger first (with an index-queue entry in the same transaction), then the
vector index, then the queue entry is cleared; ``sync_index`` finishes whatever a crash left.
Methods are blocking; the MCP layer runs them in worker threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from mcp_memory.errors import InvalidInput, MemoryNotFound, StoreUnavailable
from mcp_memory.indexing.figures import index_figures
from mcp_memory.indexing.guard import IndexGuard, Sharing
from mcp_memory.indexing.sync import INDEX_GENERATION as INDEX_GENERATION
from mcp_memory.indexing.sync import IndexSync, guarded_index, while_loading
from mcp_memory.models import (
    AddResult,
    AgeDistribution,
    Category,
    ConsolidateResult,
    DeleteResult,
    HistoryResult,
    IndexReport,
    ListOrder,
    ListResult,
    Memory,
    MemoryResult,
    MemoryType,
    Scope,
    SearchResult,
    Stage,
    StatsResult,
)
from mcp_memory.policy import access, admission, filters, validation
from mcp_memory.search.pipeline import Gathered, SearchPipeline
from mcp_memory.store.disk import used_bytes
from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import VectorIndex
from mcp_memory.transfer.bulk import Bulk, ImportReport
from mcp_memory.transfer.records import RecordPolicy

logger = logging.getLogger(__name__)


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
    """Add, search, get, list, update, delete, history, stats and consolidate memories.

    A facade: ``index_sync`` keeps the vector index in line with the ledger, ``searcher``
    answers searches, ``bulk`` adds, imports and exports many memories at once."""

    def __init__(
        self,
        ledger: LedgerStore,
        embedder: Embedder,
        open_index: Callable[[], VectorIndex],
        policy: Policy | None = None,
        clock: Clock = utc_now,
        data_dir: Path | None = None,
        sharing: Sharing | None = None,
    ):
        self.ledger = ledger
        ledger.rehash(validation.content_hash, validation.HASH_SCHEME)  # older duplicate rules
        self.embedder = embedder
        self.policy = policy = policy or Policy()
        self.clock = clock
        self.data_dir = data_dir
        perf = policy.performance
        index = guarded_index(open_index, ledger, data_dir, sharing)
        self.index_sync = IndexSync(
            ledger, embedder, index, perf.write_behind_quiet_s, perf.write_behind_max_delay_s
        )
        self._redaction_rules = admission.redaction_rules(policy.redaction)
        self.consolidator = Consolidator(
            ledger=ledger,
            vectors=lambda ids: self.index.vectors(ids),
            write_index=self.index_sync.write,
            sync_index=self.sync_index,
            retention=policy.retention,
            rules=policy.consolidation,
            clock=clock,
        )
        self.searcher = SearchPipeline(
            ledger, index, embedder, policy.ranking, perf.exact_search_max
        )
        redaction = self._redaction_rules, policy.redaction.replacement
        records = RecordPolicy(policy.limits, policy.importance, policy.retention, *redaction)
        self.bulk = Bulk(
            ledger, embedder, records, clock, self.index_sync.write, self.flush, self.searcher.judge
        )
        self._closed = False

    # -- the index and its sync (indexing/sync.py) -------------------------------------------

    @property
    def index(self) -> IndexGuard:
        """The vector index, opened on first use (it may need the model's dimension) and
        reopened when another process sharing the data dir has changed it (guard.py)."""
        return self.index_sync.index

    def defer_index_open(self) -> None:
        """Until the next ``reconcile`` (the server's warm-up runs it at a quiet moment), a
        search over everything does not open the HNSW graph: opening it costs about a second at
        100k memories, half of it holding the GIL (Chroma's Rust core), which would stall every
        other call meanwhile (``IndexGuard.defer_open``)."""
        self.index.defer_open()

    def warm_up(self) -> None:
        """Load the model and, meanwhile, open the index and reconcile it with the ledger: call
        once at start (a first search needs only the model)."""
        while_loading(self.embedder, self.reconcile)

    def close(self) -> None:
        """Finish the queued vector writes (what fails stays in the outbox), then close."""
        if self._closed:
            return
        self._closed = True
        self.searcher.close()
        self.index_sync.close()
        self.ledger.close()

    def flush(self, quietly: bool = False) -> None:
        """Wait until the vector writes ``add`` left to the background thread are done."""
        self.index_sync.flush(quietly)

    def reconcile(self) -> dict[str, Any]:
        """Finish or undo what a crash left half done (``IndexSync.reconcile``); ends the
        deferral of ``defer_index_open``."""
        try:
            return self.index_sync.reconcile()
        finally:
            self.index.defer_open(False)

    def sync_index(self, batch: int = 256) -> int:
        """Apply every queued index change; returns how many."""
        return self.index_sync.sync_index(batch)

    def index_report(self) -> IndexReport:
        """Compare every ledger id with every vector id (a full scan: for doctor, not hot paths)."""
        return self.index_sync.index_report()

    def repair_index(self) -> IndexReport:
        """Apply queued changes, embed missing memories, drop orphan vectors; report the result."""
        return self.index_sync.repair_index()

    # -- add ---------------------------------------------------------------------------------

    def add(
        self, content: str, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None, memory_type: str = MemoryType.semantic,
        category: str = Category.general, metadata: dict[str, Any] | None = None,
        importance: float | None = None, retention: str | None = None,
        created_at: str | datetime | None = None,
    ) -> AddResult:  # fmt: skip
        """Store a memory; an exact duplicate in the same scope returns the existing one.

        Secrets in the content or metadata are redacted first (the reply lists their kinds).
        """
        now, policy = self.clock(), self.policy
        content, metadata, redacted = self._redact(content, metadata)
        memory = admission.new_memory(
            content, user_id, agent_id, session_id, memory_type, category, metadata,
            importance, retention, created_at,
            now=now, limits=policy.limits, scores=policy.importance, tiers=policy.retention,
        )  # fmt: skip
        vector = self.embedder.embed([memory.content])[0]
        existing = self.ledger.insert_unless_duplicate(
            memory, validation.content_hash(memory.content)
        )
        if existing is not None:
            return AddResult(
                id=existing.id, memory=existing, duplicate_of=existing.id, redacted=redacted
            )
        self.index_sync.hand_over(memory.id, memory.content, vector)
        return AddResult(id=memory.id, memory=memory, redacted=redacted)

    def _redact(self, content: Any, metadata: Any) -> tuple[Any, Any, list[str]]:
        replacement = self.policy.redaction.replacement
        return admission.redact(content, metadata, self._redaction_rules, replacement)

    # -- bulk: add many, import, export (transfer/bulk.py) -----------------------------------

    def add_many(self, items: Sequence[dict[str, Any]], batch_size: int = 256) -> list[AddResult]:
        """``add`` for many memories (each a dict of its keyword arguments), batched."""
        return self.bulk.add_many(items, batch_size)

    def import_records(
        self, records: Iterable[Any], batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:  # fmt: skip
        """Store records in batches (twice is a no-op); embedded Qdrant then builds its graphs."""
        report = self.bulk.import_records(records, batch_size, progress)
        if report.imported:  # the CLI runs imports: no search waits on the build
            self.index.optimize()
        return report

    def judge_sessions(self, ids: Sequence[str], chunk: int = 2000) -> None:
        """Judge the order of the sessions these memories belong to, ahead of searches."""
        self.bulk.judge_sessions(ids, chunk)

    def check_records(self, records: Iterable[Any]) -> int:
        """Validate records without storing anything; returns how many there are."""
        return self.bulk.check_records(records)

    def export_records(
        self, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None, batch_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:  # fmt: skip
        """Every memory in the scope (all stages), oldest first, with its history."""
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        yield from self.bulk.export_records(scope, batch_size)

    def count(
        self, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None,
    ) -> int:  # fmt: skip
        """How many memories the scope holds (all stages)."""
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        return self.ledger.count(MemoryFilter(scope=scope))

    # -- search (search/pipeline.py) ---------------------------------------------------------

    def search(
        self, query: str, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None, memory_type: str | None = None,
        category: str | None = None, metadata: dict[str, Any] | None = None,
        since: str | datetime | None = None, until: str | datetime | None = None,
        limit: int = 10, min_score: float | None = None, include_archived: bool = False,
        count_access: bool = True,
    ) -> SearchResult:  # fmt: skip
        """The best answers to ``query`` within the filters, each an access if ``count_access``."""
        now, limits = self.clock(), self.policy.limits
        text = validation.query(query, limits)
        limit = validation.limit(limit, limits)
        min_score = filters.min_score(min_score)
        flt = filters.memory_filter(
            limits, validation.scope(limits, user_id, agent_id, session_id), memory_type,
            category, metadata, since, until, now=now, include_archived=include_archived,
        )  # fmt: skip
        self.index_sync.before_search()
        with self.index.pinned():
            hits = self.searcher.ranked(text, flt, limit, now)
        if min_score is not None:
            hits = [h for h in hits if h.score >= min_score]
        _accessed(self.ledger, [h.memory for h in hits] if count_access else [], now)
        return SearchResult(results=hits, query=text)

    def gather(self, query: str, flt: MemoryFilter, limit: int) -> Gathered:
        """What a search ranks (``SearchPipeline.gather``)."""
        return self.searcher.gather(query, flt, limit)

    # -- get, list, update, delete, history --------------------------------------------------

    def get(self, memory_id: str, count_access: bool = True) -> MemoryResult:
        """One memory by id; counts as an access unless ``count_access`` is false."""
        memory = self._existing(memory_id)
        _accessed(self.ledger, [memory] if count_access else [], self.clock())
        return MemoryResult(memory=memory)

    def _existing(self, memory_id: str) -> Memory:
        memory = self.ledger.get(validation.memory_id(memory_id))
        if memory is None or not access.admits(memory):
            raise MemoryNotFound(memory_id)
        return memory

    def list(
        self, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None, memory_type: str | None = None,
        category: str | None = None, stage: str | None = None, limit: int = 20,
        offset: int = 0, order: str = ListOrder.created, until: str | datetime | None = None,
    ) -> ListResult:  # fmt: skip
        """A page, newest (or ...) first; archived only by stage. ``until`` pages by time: the
        memories created then or before (``total`` counts them all, before and after)."""
        now, limits = self.clock(), self.policy.limits
        stages = None if stage is None else (validation.choice(stage, Stage, "stage").value,)
        scope = validation.scope(limits, user_id, agent_id, session_id)
        flt = filters.memory_filter(limits, scope, memory_type, category, now=now, stages=stages)
        order = validation.choice(order, ListOrder, "order")
        page = validation.limit(limit, limits), validation.offset(offset)
        memories = self.ledger.page(filters.created_until(flt, until, now), order, *page)
        return ListResult(memories=memories, total=self.ledger.count(flt))

    def update(
        self, memory_id: str, *, content: str | None = None,
        metadata: dict[str, Any] | None = None, importance: float | None = None,
        memory_type: str | None = None, category: str | None = None,
        lifecycle_stage: str | None = None,
    ) -> MemoryResult:  # fmt: skip
        """Change a memory; the new version is recorded in its history (secrets redacted)."""
        content, metadata, redacted = self._redact(content, metadata)
        changes = admission.changes(
            self.policy.limits, content, metadata, importance, memory_type, category,
            lifecycle_stage,
        )  # fmt: skip
        old = self._existing(memory_id)
        new, event = admission.revised(old, changes, self.clock())
        reindex = new.content != old.content
        vector = self.embedder.embed([new.content])[0] if reindex else None
        details = {"changed": sorted(changes)}
        self.ledger.save(new, validation.content_hash(new.content), event, details, reindex)
        if vector is not None:
            self.index_sync.write([(new.id, "upsert")], {new.id: vector}, {new.id: new.content})
        return MemoryResult(memory=new, redacted=redacted)

    def delete(self, memory_id: str) -> DeleteResult:
        """Remove a memory from both stores; its history keeps a DELETE event."""
        memory = self._existing(memory_id)
        self.ledger.delete(memory, self.clock())
        self.index_sync.write([(memory.id, "delete")])
        return DeleteResult(id=memory.id, deleted=True)

    def history(self, memory_id: str) -> HistoryResult:
        """Every event of a memory, oldest first, each with the memory as it stood after it."""
        events = self.ledger.history(validation.memory_id(memory_id))
        if access.current() is not None:
            self._existing(memory_id)  # a bound token sees the history of its live memories only
        if not events:
            raise MemoryNotFound(memory_id)
        return HistoryResult(id=memory_id, events=events)

    # -- stats, consolidate ------------------------------------------------------------------

    def stats(
        self, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None,
    ) -> StatsResult:  # fmt: skip
        """Counts and distributions over the memories in the given scope (all stages)."""
        self.flush(quietly=True)
        now = self.clock()
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        return _stats(self, scope, now)

    def consolidate(
        self, *, user_id: str | None = None, agent_id: str | None = None,
        session_id: str | None = None, dry_run: bool = False, undo: str | None = None,
    ) -> ConsolidateResult:  # fmt: skip
        """Tidy each scope (merge, boost, decay, stages, archive, cleanup) and journal the run;
        a dry run only reports the same actions; ``undo=RUN_ID`` reverses a journaled run."""
        scope = validation.scope(self.policy.limits, user_id, agent_id, session_id)
        if undo is not None:
            if dry_run:
                raise InvalidInput("give dry_run or undo, not both: an undo reports what it did")
            return self.consolidator.undo(undo, scope)
        return self.consolidator.run(scope, bool(dry_run))


def _stats(service: MemoryService, scope: Scope, now: datetime) -> StatsResult:
    """The stats of a scope: the ledger's aggregates, the index's state, the last run; every
    figure of that scope alone (``indexing/figures.py``), so a caller confined to one scope
    learns nothing of the others. The data dir's size belongs to the whole store only."""
    ledger = service.ledger
    flt = MemoryFilter(scope=scope)
    agg = ledger.stats(flt)
    day, week, month = ledger.count_created_since(
        flt, [now - timedelta(days=1), now - timedelta(days=7), now - timedelta(days=30)]
    )
    figures = index_figures(ledger, service.index, flt)
    whole_store = not any(scope.model_dump().values())
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
        vectors_indexed=figures.vectors,
        pending_index=figures.pending,
        index_in_sync=figures.in_sync,
        embedder=service.embedder.name,
        storage_bytes=_storage_bytes(service) if whole_store else None,
        last_consolidation=service.consolidator.last_run(flt.scope),
    )


def _storage_bytes(service: MemoryService) -> int:
    data_dir = service.data_dir
    return used_bytes(data_dir) if data_dir else service.ledger.size_bytes()


def _accessed(ledger: LedgerStore, memories: Sequence[Memory], now: datetime) -> None:
    """Count an access of each memory returned, in the reply and in the ledger (statistics:
    skipped when the ledger refuses writes, on a full disk or damage)."""
    try:
        ledger.touch([m.id for m in memories], now)
    except StoreUnavailable as exc:
        logger.warning("access counts not recorded: %s", exc)
    for memory in memories:
        memory.access_count += 1
        memory.last_accessed = now

"""Copying a whole store to another engine (`mcp-memory migrate`): SQLite to PostgreSQL and
back, through the ledger and vector protocols alone.

Every memory is copied as it is (id, scope, scores, stage, counts, timestamps, version) with
its history, then every journaled consolidation run with its entries (so a run can still be
undone on the new store). Vectors are copied from the source's index when it has them (the
same model: no re-embedding); a memory whose vector is missing there is embedded by the
target. Running it again changes nothing: memories and runs already present are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mcp_memory.errors import InvalidInput
from mcp_memory.policy.validation import content_hash
from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.records import ImportRow, MemoryFilter
from mcp_memory.store.vectors import VectorIndex

ALL_RUNS = 1_000_000_000


class Store(Protocol):
    """A service as a migration sees it: its ledger and its vector index."""

    ledger: LedgerStore

    @property
    def index(self) -> VectorIndex: ...


@dataclass(frozen=True)
class MigrateReport:
    """What a migration did."""

    memories: int
    copied: int
    present: int
    vectors: int
    runs: int


def migrate(
    source: Store,
    target: Store,
    apply: Callable[..., None],
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    judge: Callable[[list[str]], None] | None = None,
) -> MigrateReport:
    """Copy ``source`` into ``target``; ``apply(entries, vectors)`` writes the target's index
    for stored memories and clears their outbox entries (the target's ``IndexSync.apply``);
    ``judge(ids)`` judges the sessions of the copied memories ahead of the first searches, as
    an import does (``MemoryService.judge_sessions``: the verdicts are keyed by versions of
    the store they were judged in). Both must use the same embedding model."""
    if batch_size < 1:
        raise InvalidInput("batch size must be at least 1")
    total = source.ledger.count(MemoryFilter())
    copied = present = vectors = 0
    stored_ids: list[str] = []
    for batch in source.ledger.iter_memories(MemoryFilter(), batch_size):
        histories = source.ledger.history_many([m.id for m in batch])
        rows = [ImportRow(m, content_hash(m.content), histories[m.id] or None) for m in batch]
        outcome = target.ledger.import_batch(rows)
        stored = [m.id for m, skipped in zip(batch, outcome, strict=True) if skipped is None]
        found = source.index.vectors(stored) if stored else {}
        if stored:
            apply([(memory_id, "upsert") for memory_id in stored], found)
        stored_ids.extend(stored)
        copied += len(stored)
        present += len(batch) - len(stored)
        vectors += len(found)
        if progress:
            progress(len(batch))
    runs = source.ledger.recent_runs(ALL_RUNS)
    journaled = []
    for record in reversed(runs):  # oldest first: the target keeps their order
        found_run = source.ledger.run(record.run_id)
        if found_run is not None:
            journaled.append(found_run)
    stored_runs = target.ledger.import_runs(journaled) if journaled else 0
    if judge is not None and stored_ids:
        judge(stored_ids)
    return MigrateReport(total, copied, present, vectors, stored_runs)

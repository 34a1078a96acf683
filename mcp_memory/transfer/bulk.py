"""Many memories at once: add many, import and export records, and judge the sessions an import
filled.

A batch costs one batched encode, one ledger transaction and one index write, instead of one of
each per memory. Every item of an ``add_many`` is validated before anything is stored; an
import validates and stores a batch at a time (``check_records`` validates a whole file first).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from mcp_memory.clock import Clock
from mcp_memory.errors import InvalidInput
from mcp_memory.models import AddResult, Category, MemoryType, Scope
from mcp_memory.policy import admission, validation
from mcp_memory.policy.filters import ARCHIVED
from mcp_memory.store.ledger import MemoryStore, SessionStore
from mcp_memory.store.records import ImportRow, MemoryFilter, Session
from mcp_memory.transfer.records import RecordPolicy, parse_many, to_record

logger = logging.getLogger(__name__)

IndexWrite = Callable[[Sequence[tuple[str, str]], dict[str, np.ndarray]], None]


class BulkLedger(MemoryStore, SessionStore, Protocol):
    """What bulk writes and reads need of the ledger: memories, and the sessions to judge."""


class Encoder(Protocol):
    """The part of the embedder a bulk write uses."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class ImportReport:
    """What an import did: memories stored, records skipped as already present, and how many
    records had secrets cut out, by kind."""

    imported: int = 0
    skipped: int = 0
    redacted: Counter[str] = field(default_factory=Counter)


class Bulk:
    """Bulk add, import and export over one ledger; the index is reached through hooks:
    ``write_index`` (apply index changes now, left queued on failure), ``flush`` (wait for
    the write-behind) and ``judge`` (judge sessions' order and keep the verdicts)."""

    def __init__(
        self,
        ledger: BulkLedger,
        encoder: Encoder,
        policy: RecordPolicy,
        clock: Clock,
        write_index: IndexWrite,
        flush: Callable[[], None],
        judge: Callable[[Sequence[Session]], object],
    ):
        self.ledger = ledger
        self.encoder = encoder
        self.policy = policy
        self.clock = clock
        self._write_index = write_index
        self._flush = flush
        self._judge = judge

    def add_many(self, items: Sequence[dict[str, Any]], batch_size: int = 256) -> list[AddResult]:
        """``add`` for many memories (each a dict of its keyword arguments), batched.

        Every item is redacted and validated before anything is stored; then each batch costs
        one batched encode, one ledger transaction and one index write.
        """
        now = self.clock()
        items = [self._item_row(number, item, now) for number, item in enumerate(items, 1)]
        results = []
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            outcome = self.store_batch([row for row, _ in batch])
            existing = self.ledger.get_many([o for o in outcome if o is not None])
            for (row, kinds), dup in zip(batch, outcome, strict=True):
                memory = row.memory if dup is None else existing[dup]
                results.append(
                    AddResult(id=memory.id, memory=memory, duplicate_of=dup, redacted=kinds)
                )
        return results

    def _item_row(self, number: int, item: Any, now: datetime) -> tuple[ImportRow, list[str]]:
        """One ``add_many`` item, secrets redacted as ``add`` does, validated into a row to
        store (an exact duplicate in its scope skipped), and the kinds of secret cut out; an
        error names the item's number."""
        if not isinstance(item, dict) or "content" not in item:
            raise InvalidInput(f"item {number}: give a dict with at least 'content'")
        if unknown := sorted(set(item) - {"content", *admission.ADD_ARGS}):
            raise InvalidInput(f"item {number}: unknown argument(s) {', '.join(unknown)}")
        args = {"content": item["content"], **{k: item.get(k) for k in admission.ADD_ARGS}}
        policy = self.policy
        kinds: Counter[str] = Counter()
        args["content"], args["metadata"] = policy.redact(args["content"], args["metadata"], kinds)
        try:
            memory = admission.new_memory(
                **{**args, "memory_type": args["memory_type"] or MemoryType.semantic,
                   "category": args["category"] or Category.general},
                now=now, limits=policy.limits, scores=policy.importance, tiers=policy.retention,
            )  # fmt: skip
        except (InvalidInput, TypeError) as exc:
            raise InvalidInput(f"item {number}: {exc}") from None
        row = ImportRow(memory, validation.content_hash(memory.content), dedupe=True)
        return row, sorted(kinds)

    def import_records(
        self,
        records: Iterable[Any],
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Store exported (or minimal) records, a batch at a time (``records.py``).

        Ids already stored are skipped, so importing twice changes nothing. A bad record raises
        ``InvalidInput`` naming its number before its batch is written (``check_records``
        validates a whole file first, so that nothing at all is stored). The sessions filled
        are judged at the end (``judge_sessions``).
        """
        report = ImportReport()
        sessions: dict[tuple[str, str, str], str] = {}
        batch: list[tuple[int, Any]] = []
        for number, record in enumerate(records, 1):
            batch.append((number, record))
            if len(batch) >= batch_size:
                self._import_batch(batch, report, progress, sessions)
                batch = []
        if batch:
            self._import_batch(batch, report, progress, sessions)
        self.judge_sessions(list(sessions.values()))
        return report

    def _import_batch(
        self,
        batch: list[tuple[int, Any]],
        report: ImportReport,
        progress: Callable[[int], None] | None,
        sessions: dict[tuple[str, str, str], str],
    ) -> None:
        """Parse and store one batch; note one member of each session it touches (by the
        session's key) for judging."""
        rows = parse_many(batch, self.policy, self.clock(), report.redacted)
        outcome = self.store_batch(rows)
        for row in rows:
            m = row.memory
            if m.session_id:
                sessions.setdefault(m.scope.key(), m.id)
        stored = sum(o is None for o in outcome)
        report.imported += stored
        report.skipped += len(outcome) - stored
        if progress is not None:
            progress(len(batch))

    def store_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """One batched encode (of the rows not already stored), one transaction, one index write."""
        present = self.ledger.filter_ids([r.memory.id for r in rows], MemoryFilter())
        todo = [r for r in rows if r.memory.id not in present]
        vectors = self.encoder.embed([r.memory.content for r in todo]) if todo else []
        outcome = self.ledger.import_batch(rows)
        stored = {r.memory.id for r, o in zip(rows, outcome, strict=True) if o is None}
        self._write_index(
            [(mid, "upsert") for mid in stored],
            {r.memory.id: v for r, v in zip(todo, vectors, strict=True) if r.memory.id in stored},
        )
        return outcome

    def judge_sessions(self, ids: Sequence[str], chunk: int = 2000) -> None:
        """Judge the order of the sessions these memories belong to and keep the verdicts
        (``sessions.py``), so the first searches after an import find them ready.

        Only a head start: when it cannot be done (the vector index unreachable), it is
        logged, and searches judge the sessions themselves when they first meet them."""
        flt = MemoryFilter(exclude_stages=ARCHIVED)
        try:
            self._flush()
            for start in range(0, len(ids), chunk):
                self._judge(self.ledger.sessions(ids[start : start + chunk], flt))
        except Exception:
            logger.warning("sessions not judged ahead; searches will judge them", exc_info=True)

    def check_records(self, records: Iterable[Any]) -> int:
        """Validate records without storing anything; returns how many there are."""
        now, count = self.clock(), 0
        for number, record in enumerate(records, 1):
            parse_many([(number, record)], self.policy, now)
            count = number
        return count

    def export_records(self, scope: Scope, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every memory in the scope (all stages), oldest first, with its history."""
        for memories in self.ledger.iter_memories(MemoryFilter(scope=scope), batch_size):
            history = self.ledger.history_many([m.id for m in memories])
            for memory in memories:
                yield to_record(memory, history[memory.id])

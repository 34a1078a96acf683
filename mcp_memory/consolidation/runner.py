"""Runs consolidation for the service: plan per scope, apply in one transaction, journal, undo.

``consolidation.plan`` decides (pure); this module gathers what the plan needs (memories,
vectors, access times, past lifecycle events), turns the planned actions into ledger writes,
and journals each run under its ``run_id`` with the full prior row of every memory it touched,
so that ``undo`` can put them back. Vectors are never stored in the journal: an undo queues the
restored memories for the index, which re-embeds them from their restored text.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from mcp_memory.clock import Clock
from mcp_memory.config import ConsolidationSettings, RetentionSettings
from mcp_memory.consolidation import plan
from mcp_memory.errors import InvalidInput
from mcp_memory.models import (
    ConsolidateResult,
    ConsolidationRun,
    EventKind,
    Memory,
    Scope,
    Stage,
)
from mcp_memory.policy import access
from mcp_memory.policy.validation import ID_PATTERN, content_hash
from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.records import JournalEntry, MemoryFilter, RowWrite, RunRecord

COUNTERS = {
    plan.MERGE: "duplicates_merged",
    plan.REDUNDANT: "redundancies_eliminated",
    plan.BOOST: "importance_boosted",
    plan.DECAY: "decayed",
    plan.STAGE: "stages_updated",
    plan.ARCHIVE: "archived",
    plan.DELETE: "deleted",
}
_EVENTS = {
    plan.MERGE: EventKind.MERGE,
    plan.REDUNDANT: EventKind.MERGE,
    plan.BOOST: EventKind.UPDATE,
    plan.DECAY: EventKind.UPDATE,
    plan.STAGE: EventKind.UPDATE,
    plan.ARCHIVE: EventKind.ARCHIVE,
}


@dataclass
class Consolidator:
    """Consolidation runs over one ledger; the index is reached through the service's hooks."""

    ledger: LedgerStore
    vectors: Callable[[list[str]], dict[str, np.ndarray]]
    write_index: Callable[[Sequence[tuple[str, str]]], None]
    sync_index: Callable[[], Any]
    retention: RetentionSettings
    rules: ConsolidationSettings
    clock: Clock

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def run(self, scope: Scope, dry_run: bool) -> ConsolidateResult:
        """Plan every scope the filter matches and, unless a dry run, apply and journal it.
        Holds the store's consolidation lock for the scope throughout, across the processes
        sharing the store (``Journal.consolidating``)."""
        result = self._run(scope, dry_run)
        assert result is not None  # only a scheduled run is skipped
        return result

    def run_if_due(self, scope: Scope, every: timedelta) -> ConsolidateResult | None:
        """A scheduled run, unless a run of exactly this scope (by any process sharing the
        store) happened in the last half interval: of several servers on one schedule, the
        first due runs it and the others, waiting on the lock meanwhile, find it done (None)."""
        return self._run(scope, False, unless_since=self.clock() - every / 2)

    def _run(
        self, scope: Scope, dry_run: bool, unless_since: datetime | None = None
    ) -> ConsolidateResult | None:
        with self._lock, self.ledger.consolidating(scope):
            if unless_since is not None and self._ran_since(scope, unless_since):
                return None
            now = self.clock()
            if self.ledger.count_pending():
                self.sync_index()
            actions = self.plan(scope, now)
            result = summarize(uuid.uuid4().hex, dry_run, actions)
            if dry_run:
                return result
            journal = _journal(actions)
            counts = {c: getattr(result, c) for c in COUNTERS.values()}
            summary = result.model_dump(mode="json")
            self.ledger.record_run(
                RunRecord(result.run_id, now, scope.model_dump(), counts, summary),
                self._writes(result.run_id, actions, now),
                journal,
            )
            self._reindex(actions)
            self.ledger.prune_lifecycle(
                now - timedelta(days=self.rules.boost_window_days),
                now - timedelta(days=self.rules.journal_keep_days),
            )
            return result

    def plan(self, scope: Scope, now: datetime) -> list[plan.Action]:
        """The actions a run would take now, scope by scope (in a stable order)."""
        memories = self.ledger.all_memories(MemoryFilter(scope=scope))
        facts = self._facts(memories, now)
        by_scope: dict[tuple[str, str, str], list[Memory]] = {}
        for memory in memories:
            by_scope.setdefault(memory.scope.key(), []).append(memory)
        actions: list[plan.Action] = []
        for key in sorted(by_scope):
            group = by_scope[key]
            live = [m.id for m in group if m.lifecycle_stage != Stage.archived]
            vectors = self.vectors(live) if len(live) > 1 else {}
            actions.extend(plan.plan(group, vectors, facts, now, self.retention, self.rules))
        return actions

    def _facts(self, memories: Sequence[Memory], now: datetime) -> dict[str, plan.Facts]:
        ids = [m.id for m in memories]
        window = now - timedelta(days=self.rules.boost_window_days)
        accesses = self.ledger.accesses_since(ids, window)
        facts = {}
        for memory_id, events in self.ledger.lifecycle_events(ids).items():
            found: dict[str, Any] = {}
            for event in events:
                action = event.details.get("action")
                if event.event == EventKind.RESTORE:
                    found["restored_at"] = event.at
                elif event.event == EventKind.ARCHIVE:
                    found["archived_at"] = event.at
                elif action == plan.BOOST:
                    found["boosted_at"] = event.at
                elif action == plan.DECAY:
                    found["decayed_at_age"] = event.details.get("age_days")
            boosted = found.pop("boosted_at", None)
            times = accesses.pop(memory_id, [])
            recent = sum(1 for t in times if boosted is None or t > boosted)
            facts[memory_id] = plan.Facts(recent_accesses=recent, **found)
        for memory_id, times in accesses.items():
            facts[memory_id] = plan.Facts(recent_accesses=len(times))
        return facts

    def _writes(self, run_id: str, actions: Sequence[plan.Action], now: datetime) -> list[RowWrite]:
        writes = []
        for action in actions:
            details = {"run_id": run_id, "action": action.kind, **action.details}
            if action.after is None:
                before = action.before
                writes.append(RowWrite(
                    "delete", before, content_hash(before.content), EventKind.DELETE, now,
                    details, "delete",
                ))  # fmt: skip
                continue
            if action.removed:
                details["absorbed"] = [m.id for m in action.removed]
            after = action.after
            changed = after.content != action.before.content
            writes.append(RowWrite(
                "save", after, content_hash(after.content), _EVENTS[action.kind], now, details,
                "upsert" if changed else None,
            ))  # fmt: skip
            for removed in action.removed:
                writes.append(RowWrite(
                    "delete", removed, content_hash(removed.content), EventKind.MERGE, now,
                    {**details, "merged_into": action.memory_id}, "delete",
                ))  # fmt: skip
        return writes

    def _reindex(self, actions: Sequence[plan.Action]) -> None:
        ops: dict[str, str] = {}
        for action in actions:
            for removed in action.removed:
                ops[removed.id] = "delete"
            if action.after is None:
                ops[action.memory_id] = "delete"
            elif action.after.content != action.before.content:
                ops[action.memory_id] = "upsert"
        if ops:
            self.write_index(list(ops.items()))

    def undo(self, run_id: str, scope: Scope) -> ConsolidateResult:
        """Put back every memory a run touched as it was before, and mark the run undone.

        Rows come back exactly, version and ``updated_at`` included (so an earlier run can be
        undone next), keeping only the accesses counted since; history records the undo.
        Refused (``Conflict``) when a memory the run touched changed since: undo the later run
        or change first.
        """
        if not isinstance(run_id, str) or not ID_PATTERN.match(run_id):
            raise InvalidInput("undo must be a run_id returned by consolidate")
        with self._lock, self.ledger.consolidating(scope):
            found = self.ledger.run(run_id)
            if found is None or not access.admits(Scope(**found[0].scope)):
                raise InvalidInput(
                    f"no consolidation run '{run_id}': use a run_id that consolidate returned "
                    "(dry runs are not recorded; runs older than journal_keep_days are forgotten)"
                )
            run, journal = found
            if run.undone_at is not None:
                raise InvalidInput(f"run '{run_id}' was already undone at {run.undone_at}")
            given = {k: v for k, v in scope.model_dump().items() if v is not None}
            if given and given != {k: v for k, v in run.scope.items() if v is not None}:
                raise InvalidInput(f"run '{run_id}' covered scope {run.scope}, not {given}")
            now = self.clock()
            current = self.ledger.get_many([entry.prior.id for entry in journal])
            writes = [_undo_write(e, current.get(e.prior.id), run_id, now) for e in journal]
            expect = {e.prior.id: e.final_version for e in journal}
            self.ledger.undo_run(run_id, writes, expect, now)
            ops = [(w.memory.id, w.index) for w in writes if w.index is not None]
            if ops:
                self.write_index(ops)
            return ConsolidateResult.model_validate({**run.summary, "undone": True})

    def _ran_since(self, scope: Scope, since: datetime) -> bool:
        """Whether a run of exactly this scope, not undone, happened at or after ``since``."""
        wanted = scope.model_dump()
        return any(
            run.at >= since
            and run.undone_at is None
            and all(run.scope.get(k) == v for k, v in wanted.items())
            for run in self.ledger.recent_runs()
        )

    def last_run(self, scope: Scope) -> ConsolidationRun | None:
        """The latest journaled run over this scope or a part of it: one that fixed every id
        the scope fixes, to the same value. A run over a wider scope (a global one, or another
        user's) is left out: its counts and id belong to memories outside this scope."""
        wanted = {k: v for k, v in scope.model_dump().items() if v is not None}
        for run in self.ledger.recent_runs():
            if all(run.scope.get(k) == v for k, v in wanted.items()):
                return to_run_info(run)
        return None

    def runs_within(self, scope: Scope, limit: int) -> list[ConsolidationRun]:
        """The latest journaled runs whose scope lies within this one (each scope value given
        here is the run's too), newest first: the runs a caller confined to it may undo."""
        wanted = {k: v for k, v in scope.model_dump().items() if v is not None}
        runs = [
            to_run_info(run)
            for run in self.ledger.recent_runs(RECENT_RUNS)
            if all(run.scope.get(k) == v for k, v in wanted.items())
        ]
        return runs[:limit]


RECENT_RUNS = 500
"""How many of the latest runs ``runs_within`` looks through."""


def summarize(run_id: str, dry_run: bool, actions: Sequence[plan.Action]) -> ConsolidateResult:
    """The consolidate reply for these actions: counts per kind and the public actions."""
    result = ConsolidateResult(run_id=run_id, dry_run=dry_run)
    for action in actions:
        counter = COUNTERS[action.kind]
        step = len(action.removed) if action.removed else 1
        setattr(result, counter, getattr(result, counter) + step)
        result.actions.append(action.public())
    return result


def to_run_info(run: RunRecord) -> ConsolidationRun:
    return ConsolidationRun(
        run_id=run.run_id,
        at=run.at,
        **{k: run.scope.get(k) for k in ("user_id", "agent_id", "session_id")},
        counts=run.counts,
        undone_at=run.undone_at,
    )


def _journal(actions: Sequence[plan.Action]) -> list[JournalEntry]:
    """Per memory touched: its row before the run's first action on it, and what it ended as."""
    prior: dict[str, Memory] = {}
    final: dict[str, Memory | None] = {}
    for action in actions:
        for memory in (action.before, *action.removed):
            prior.setdefault(memory.id, memory)
        for removed in action.removed:
            final[removed.id] = None
        final[action.memory_id] = action.after
    return [
        JournalEntry(
            memory,
            None if final[mid] is None else final[mid].version,
            None if final[mid] is None else final[mid].access_count,
        )
        for mid, memory in prior.items()
    ]


def _undo_write(
    entry: JournalEntry, current: Memory | None, run_id: str, now: datetime
) -> RowWrite:
    prior = entry.prior
    details = {"undo": run_id}
    if current is None:
        return RowWrite(
            "insert", prior, content_hash(prior.content), EventKind.RESTORE, now, details,
            "upsert",
        )  # fmt: skip
    new_accesses = max(0, current.access_count - (entry.final_count or 0))
    restored = prior.model_copy(
        update={
            "access_count": prior.access_count + new_accesses,
            "last_accessed": current.last_accessed if new_accesses else prior.last_accessed,
        }
    )
    event = EventKind.UPDATE
    if current.lifecycle_stage == Stage.archived and prior.lifecycle_stage != Stage.archived:
        event = EventKind.RESTORE
    elif prior.lifecycle_stage == Stage.archived and current.lifecycle_stage != Stage.archived:
        event = EventKind.ARCHIVE
    index = "upsert" if current.content != prior.content else None
    return RowWrite("save", restored, content_hash(prior.content), event, now, details, index)

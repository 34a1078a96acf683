"""The ledger's protocols: what the rest of the code needs from the source of truth, by idea.

Each protocol is narrow and exchanges plain values only (``store.records``, ``models``): no
connection, cursor or SQL crosses it, and a ``MemoryFilter`` is rendered by the engine itself.
``mcp_memory.ledger`` (SQLite) implements each one in the module of the same idea; a
PostgreSQL ledger implements the same. ``LedgerStore`` is all of them, for the service.

Shared contract: every write method is one transaction (all of it happens or none of it, and
other processes sharing the store see all of it or none of it); a write that changes what the
vector index must hold also queues an entry in the outbox in that same transaction. Ids that
do not exist are skipped by reads of many ids, never an error. Timestamps are aware datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from mcp_memory.models import EventKind, HistoryEvent, ListOrder, Memory, Scope
from mcp_memory.store.records import (
    CandidateRow,
    ImportRow,
    JournalEntry,
    MemoryFilter,
    RowWrite,
    RunRecord,
    Session,
    SessionKey,
)


class MemoryWriter(Protocol):
    """Writing memories: each write stores the row, its history event and its outbox entry
    together."""

    def insert_unless_duplicate(self, memory: Memory, content_hash: str) -> Memory | None:
        """Store a new memory with its ADD event (at ``created_at``) and an 'upsert' outbox
        entry, atomically; None when stored. If a memory with this ``content_hash`` exists in
        exactly this scope, store nothing and return the first one stored (checked inside the
        transaction: two processes adding the same text store it once)."""
        ...

    def merge(
        self,
        kept: Memory,
        content_hash: str,
        absorbed: Sequence[Memory],
        at: datetime,
        details: dict[str, Any],
    ) -> None:
        """Overwrite ``kept`` and delete the ``absorbed``, atomically: a MERGE event for each
        (``details`` plus ``absorbed`` ids on the kept one, ``merged_into`` on the others),
        'upsert' queued for the kept one, 'delete' for the others."""
        ...

    def save(
        self,
        memory: Memory,
        content_hash: str,
        event: EventKind,
        details: dict[str, Any] | None = None,
        reindex: bool = False,
    ) -> None:
        """Overwrite a stored memory's row (every field, found by id) and record ``event`` at
        its ``updated_at``, atomically; ``reindex`` also queues an 'upsert'."""
        ...

    def delete(self, memory: Memory, at: datetime, details: dict[str, Any] | None = None) -> None:
        """Remove a memory, record its DELETE event (its history stays) and queue a 'delete',
        atomically."""
        ...

    def touch(self, ids: Sequence[str], at: datetime) -> None:
        """Count one access per id (a repeated id counts twice): ``access_count`` + 1,
        ``last_accessed`` = ``at``, and the time kept in the access log. Neither a version
        nor a history event changes. Old access times may be pruned meanwhile."""
        ...

    def import_batch(self, rows: Sequence[ImportRow]) -> list[str | None]:
        """Store a batch in one transaction; per row, in order: None if stored, else the id
        that stands for it (its own id if already stored; with ``dedupe``, the memory of the
        same ``content_hash`` in its scope, stored before or earlier in the batch). A stored
        row gets its history (events already recorded are not repeated) or an ADD event, and
        an 'upsert' outbox entry."""
        ...

    def rehash(self, content_hash: Callable[[str], str], scheme: str) -> int:
        """Recompute every stored content hash with ``content_hash`` unless the store records
        ``scheme`` as the rules they follow, then record it, atomically; returns how many
        changed. Called at start, so hashes made under older rules still find duplicates."""
        ...


class MemoryReader(Protocol):
    """Reading memories and their history; nothing here writes."""

    def get(self, memory_id: str) -> Memory | None:
        """The memory with this id, or None."""
        ...

    def get_many(self, ids: Sequence[str], flt: MemoryFilter | None = None) -> dict[str, Memory]:
        """The memories with these ids that exist (and pass ``flt``), by id; unordered."""
        ...

    def filter_ids(self, ids: Sequence[str], flt: MemoryFilter) -> set[str]:
        """The subset of ``ids`` whose memories exist and pass the filter."""
        ...

    def query(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> tuple[list[Memory], int]:
        """One page (``limit`` from ``offset``) of matching memories in ``order``, each
        descending (latest created or updated, most important, latest accessed first), and
        how many match in all."""
        ...

    def page(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> list[Memory]:
        """``query``'s page without its count: paging by time (``flt.until``) asks for one at
        every step, where counting what is left would scan it."""
        ...

    def count(self, flt: MemoryFilter) -> int:
        """How many memories match; without a scan when the filter tests only user,
        agent, type, category and stage (a search asks this often)."""
        ...

    def ids(self, flt: MemoryFilter, limit: int | None = None) -> list[str]:
        """The ids of matching memories in insertion order, the first ``limit`` if given."""
        ...

    def all_memories(self, flt: MemoryFilter) -> list[Memory]:
        """Every matching memory, oldest ``created_at`` first."""
        ...

    def iter_memories(self, flt: MemoryFilter, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every matching memory in insertion order, in lists of at most ``batch``; each batch
        is read when asked for, so memories stored meanwhile may appear."""
        ...

    def history(self, memory_id: str) -> list[HistoryEvent]:
        """A memory's events, oldest first (kept after the memory is deleted)."""
        ...

    def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """Each id's events, oldest first; every id is a key (an empty list: no events)."""
        ...

    def has_history(self, memory_id: str) -> bool:
        """Whether any event was ever recorded for this id."""
        ...

    def candidates(self, ids: Sequence[str], flt: MemoryFilter) -> dict[str, CandidateRow]:
        """What ranking reads of each of these memories that passes the filter, by id."""
        ...

    def stats(self, flt: MemoryFilter) -> dict[str, Any]:
        """Of the matching memories: ``by_user``, ``by_type``, ``by_category``, ``by_stage``,
        ``by_retention`` (value -> count, sorted by value; the global scope's user is ''),
        ``total`` and ``average_importance`` (0.0 when there are none)."""
        ...

    def count_created_since(self, flt: MemoryFilter, moments: Sequence[datetime]) -> list[int]:
        """For each moment, in order, how many matching memories were created at or after it."""
        ...


class MemoryStore(MemoryWriter, MemoryReader, Protocol):
    """Memories with their history: writes and reads."""


class Outbox(Protocol):
    """The vector changes committed in the ledger and not yet confirmed by the vector index:
    one entry per memory, 'upsert' or 'delete', a newer operation replacing an older one."""

    def pending_index(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(memory_id, op) entries, oldest queued first; the first ``limit`` if given."""
        ...

    def count_pending(self) -> int:
        """How many entries are queued."""
        ...

    def mark_indexed(self, entries: Sequence[tuple[str, str]]) -> None:
        """Clear these (memory_id, op) entries, atomically; an entry whose op was replaced
        since it was read stays queued."""
        ...

    def requeue_all(self) -> int:
        """Queue an upsert of every memory, atomically, and return how many: the vector index
        was lost (damaged files), and the outbox rebuilds it, resuming after a crash."""
        ...


class KeywordIndex(Protocol):
    """Keyword search over each memory's content, stemmed, within a scope. Callers pass plain
    terms: any query syntax of the engine is the engine's to write and to escape."""

    def keyword_search(
        self, terms: Sequence[str], flt: MemoryFilter, limit: int, every: bool = False
    ) -> list[tuple[str, float]]:
        """Up to ``limit`` (id, score) of matching memories holding any of the terms
        (``every``: all of them) and passing the filter, best first (higher is better)."""
        ...

    def term_counts(self, terms: Sequence[str], scope: Scope) -> dict[str, int]:
        """Each term's document count over the whole scope (every stage, no other filter);
        exact as of the latest change to the index, by any process."""
        ...

    def term_hits(
        self, terms: Sequence[str], rows: Mapping[str, CandidateRow], scope: Scope
    ) -> dict[str, set[str]]:
        """For each term, the ids among ``rows`` (those in the scope) that contain it."""
        ...

    def candidates_with_terms(
        self, ids: Sequence[str], flt: MemoryFilter, terms: Sequence[str]
    ) -> tuple[dict[str, CandidateRow], dict[str, set[str]]]:
        """``candidates(ids, flt)`` and, for each term, the ids among them that contain it
        (``term_hits``): what a search ranks, read together (on PostgreSQL, one round trip
        to the database instead of two)."""
        ...

    def keyword_index_ok(self, full: bool = True) -> bool:
        """Whether the index agrees with the memories: ``full``, a thorough check (slow, may
        block writers); otherwise a quick one (every memory indexed once)."""
        ...

    def rebuild_keyword_index(self) -> None:
        """Rebuild the index from the memories, atomically."""
        ...


class SessionStore(Protocol):
    """Sessions (a scope with a session id) as ordered member lists, and the order verdicts
    search keeps per session (``search.sessions.SessionOrders``)."""

    def sessions(self, ids: Sequence[str], flt: MemoryFilter) -> list[Session]:
        """The sessions these memories belong to (memories without a session: none), each
        with its members that pass the filter, oldest ``created_at`` first (insertion breaks
        ties); a session with no member passing is left out. A session's ``stamp`` changes
        whenever a member is added, edited, moved or removed, by any process (not when one
        is only accessed)."""
        ...

    def session_orders(
        self, keys: Sequence[SessionKey]
    ) -> dict[SessionKey, tuple[str, float | None]]:
        """The kept verdicts of these sessions: key -> (what was judged, score or None);
        sessions without one are absent."""
        ...

    def keep_session_orders(self, verdicts: Sequence[tuple[SessionKey, str, float | None]]) -> None:
        """Keep (key, what was judged, score or None) verdicts, each replacing the session's
        previous one, atomically."""
        ...


class Journal(Protocol):
    """What consolidation plans from (access times, lifecycle events) and the journal of its
    runs, for undo. Runs are applied only if nothing they touch changed since planning."""

    def accesses_since(self, ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """Each id's access times at or after ``since``, oldest first; ids without: absent."""
        ...

    def lifecycle_events(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """Each id's RESTORE, ARCHIVE and UPDATE events, oldest first (event, at, details
        only), leaving out those an undo wrote and those of runs since undone."""
        ...

    def record_run(
        self, run: RunRecord, writes: Sequence[RowWrite], journal: Sequence[JournalEntry]
    ) -> None:
        """Apply the run's writes (each with its event and outbox entry) and journal the run,
        in one transaction. Accesses counted since planning are added, not overwritten.
        Raises ``Conflict``, changing nothing, if a journaled memory's version changed."""
        ...

    def run(self, run_id: str) -> tuple[RunRecord, list[JournalEntry]] | None:
        """A journaled run with its summary, and its entries in the order journaled; None if
        unknown or pruned."""
        ...

    def recent_runs(self, limit: int = 50) -> list[RunRecord]:
        """The latest ``limit`` runs, newest first, without their summary."""
        ...

    def undo_run(
        self, run_id: str, writes: Sequence[RowWrite], expect: dict[str, int | None], at: datetime
    ) -> None:
        """Apply the reversing writes and mark the run undone at ``at``, in one transaction.
        Raises ``Conflict``, changing nothing, if the run is unknown or already undone, or a
        memory's version differs from ``expect`` (None: the memory must be absent)."""
        ...

    def prune_lifecycle(self, accesses_before: datetime, runs_before: datetime) -> None:
        """Forget access times before ``accesses_before`` and runs (with their journal)
        before ``runs_before``, atomically."""
        ...

    def import_runs(self, runs: Sequence[tuple[RunRecord, Sequence[JournalEntry]]]) -> int:
        """Store journaled runs as they are (summary, undo time, entries in order), skipping
        those whose ``run_id`` is stored already, in one transaction; applies no write (a
        store being copied); returns how many were stored."""
        ...

    def consolidating(self, scope: Scope) -> AbstractContextManager[None]:
        """Hold the right to consolidate ``scope`` across every process sharing the store,
        waiting while another holds an overlapping one (a scope without a user overlaps
        every scope): two runs never plan and apply the same memories at once."""
        ...


class StateStore(Protocol):
    """Values shared by every process using the store: named strings and counters."""

    def get_state(self, key: str) -> str | None:
        """The value kept under ``key``, or None."""
        ...

    def set_state(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key``, replacing any, atomically."""
        ...

    def counter(self, name: str) -> int:
        """A counter's value, 0 if never bumped; cheap enough for every request."""
        ...

    def bump_counter(self, name: str) -> int:
        """Add one to a counter and return the new value, atomically across processes."""
        ...

    def size_bytes(self) -> int:
        """The store's size on disk, in bytes (0 where the engine cannot tell)."""
        ...


class Integrity(Protocol):
    """Whether the store's files are sound; a store that is not refuses writes."""

    def check_integrity(self, full: bool = False) -> list[str]:
        """The problems a check of the store finds (none: empty), the cheap check unless
        ``full``. Once one has found problems, every write raises ``StoreDamaged``."""
        ...

    def verify(self) -> None:
        """Run the cheap check now (else it runs before the first write); ``StoreDamaged``,
        naming the file and what to do, when it finds problems."""
        ...


class LedgerStore(
    MemoryStore, Outbox, KeywordIndex, SessionStore, Journal, StateStore, Integrity, Protocol
):
    """The whole ledger, as the service composes it."""

    @property
    def schema_version(self) -> int:
        """How many schema migrations the store has applied."""
        ...

    def close(self) -> None:
        """Release the connection; the object is not used afterwards."""
        ...

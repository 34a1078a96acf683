"""The plain records the ledger exchanges with the rest of the code: values, no SQL.

A filter is a value (``MemoryFilter``); each ledger engine renders it in its own dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from mcp_memory.errors import UnreadableMemory
from mcp_memory.models import EventKind, HistoryEvent, Memory, Scope

logger = logging.getLogger(__name__)
R = TypeVar("R")
T = TypeVar("T")


def readable(rows: Iterable[R], decode: Callable[[R], T]) -> list[T]:
    """The rows that decode, in order; each one that does not (``UnreadableMemory``) is left
    out with a warning: a damaged row must not break every search, list or export that meets
    it. Every ledger engine reads its memory rows through this."""
    found = []
    for row in rows:
        try:
            found.append(decode(row))
        except UnreadableMemory as exc:
            logger.warning("skipped: %s", exc)
    return found


@dataclass(frozen=True)
class ImportRow:
    """One memory to import: its history (None: record an ADD) and whether to skip same text."""

    memory: Memory
    content_hash: str
    history: Sequence[HistoryEvent] | None = None
    dedupe: bool = False


@dataclass(frozen=True)
class MemoryFilter:
    """Which memories a query matches; every field left empty matches anything."""

    scope: Scope = field(default_factory=Scope)
    memory_type: str | None = None
    category: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None
    stages: tuple[str, ...] | None = None
    exclude_stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class CandidateRow:
    """The columns of a memory that ranking reads (see ``Ledger.candidates``), and its key in
    the keyword index (``seq``, for ``Ledger.term_hits``)."""

    content: str
    importance: float
    created_at: datetime
    in_session: bool
    seq: int


SessionKey = tuple[str, str, str]
"""A session's (user_id, agent_id, session_id), '' for an absent id, as the ledger stores them."""


@dataclass(frozen=True)
class Session:
    """One session's memories in their order: its (user, agent, session) key, the member ids
    (oldest first) and its version, which changes whenever a member is added, edited,
    re-ordered or removed and so can key a cache of what is derived."""

    key: SessionKey
    members: tuple[str, ...]
    stamp: str


@dataclass(frozen=True)
class RowWrite:
    """One row change of a batch: ``memory`` as it becomes (for a delete: as it was), the
    history event to record, and what the vector index must do (``upsert``, ``delete``, None)."""

    op: str  # "save", "insert" or "delete"
    memory: Memory
    content_hash: str
    event: EventKind
    at: datetime
    details: dict[str, Any]
    index: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    """A memory a run touched: its row before the run, and the version and access count the
    run left it with (None: the run removed it)."""

    prior: Memory
    final_version: int | None
    final_count: int | None  # access count


@dataclass(frozen=True)
class RunRecord:
    """A journaled consolidation run: its scope filter, its reply, and when it was undone."""

    run_id: str
    at: datetime
    scope: dict[str, str | None]
    counts: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)
    undone_at: datetime | None = None

"""A memory as a PostgreSQL row and back: the column list, the conversions, and the statements
that write one row (insert, update, history event), shared by every write path.

Timestamps go in and come out as aware datetimes (``timestamptz``, the session in UTC); JSON
(metadata, history details) is stored as the text the SQLite ledger stores, so what is read
back is exactly what was written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mcp_memory.errors import UnreadableMemory
from mcp_memory.models import EventKind, HistoryEvent, Memory, Stage
from mcp_memory.postgres.database import Conn
from mcp_memory.store.records import CandidateRow, RunRecord

COLUMNS = (
    "id, content, user_id, agent_id, session_id, memory_type, category, metadata, "
    "importance_score, retention, lifecycle_stage, access_count, last_accessed, "
    "created_at, updated_at, version"
)
"""The columns of a memory, in the order of ``row_values`` (``seq``, hash and twin aside)."""

INSERT_MEMORY = (
    f"INSERT INTO memories (content_hash, twin, {COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
"""One memory row; its parameters are ``insert_values``."""

INSERT_EVENT = (
    "INSERT INTO history (memory_id, event, at, content, metadata, importance, details) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
"""One history event; its parameters are ``event_values``."""


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def row_values(memory: Memory) -> tuple[Any, ...]:
    """The values of ``COLUMNS`` for a memory (absent scope ids stored as '')."""
    return (
        memory.id,
        memory.content,
        memory.user_id or "",
        memory.agent_id or "",
        memory.session_id or "",
        memory.memory_type.value,
        memory.category.value,
        dumps(memory.metadata),
        memory.importance_score,
        memory.retention.value,
        memory.lifecycle_stage.value,
        memory.access_count,
        memory.last_accessed,
        memory.created_at,
        memory.updated_at,
        memory.version,
    )


def insert_values(memory: Memory, content_hash: str, twin: str | None = None) -> tuple[Any, ...]:
    """The parameters of ``INSERT_MEMORY``: ``twin`` '' for a memory an add stores (the one
    of its text in its scope), otherwise its own id (see migration 1)."""
    return (content_hash, memory.id if twin is None else twin, *row_values(memory))


def utc(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo is UTC else moment.astimezone(UTC)


CANDIDATE_COLUMNS = "id, content, importance_score, created_at, session_id, seq"
"""What a search ranks of a memory (``CandidateRow``), read by ``candidates`` and
``candidates_with_terms``."""


def to_candidate(row: Sequence[Any]) -> CandidateRow:
    """A ``CANDIDATE_COLUMNS`` row (its id first) as what ranking reads."""
    return CandidateRow(row[1], row[2], utc(row[3]), bool(row[4]), row[5])


def to_memory(row: Sequence[Any]) -> Memory:
    """A memory from a row of ``COLUMNS``; ``UnreadableMemory`` (naming the column) if it
    cannot be decoded (the text columns hold JSON, a stage, a type: a hand edit may break
    them)."""
    try:
        return _decode(row)
    except (ValueError, TypeError) as exc:
        raise UnreadableMemory(row[0], _problem(row, exc)) from None


def _problem(row: Sequence[Any], exc: Exception) -> str:
    """Which column of a memory row fails to decode, and its value."""
    for column, at, decode in (("metadata", 7, json.loads), ("lifecycle_stage", 10, Stage)):
        try:
            decode(row[at])
        except (ValueError, TypeError):
            return f"{column} {str(row[at])[:40]!r} is not valid"
    return str(exc).splitlines()[0][:200]


def _decode(row: Sequence[Any]) -> Memory:
    return Memory(
        id=row[0],
        content=row[1],
        user_id=row[2] or None,
        agent_id=row[3] or None,
        session_id=row[4] or None,
        memory_type=row[5],
        category=row[6],
        metadata=json.loads(row[7]),
        importance_score=row[8],
        retention=row[9],
        lifecycle_stage=Stage(row[10]),
        access_count=row[11],
        last_accessed=utc(row[12]),
        created_at=utc(row[13]),
        updated_at=utc(row[14]),
        version=row[15],
    )


def scope_key(memory: Memory) -> tuple[str, str, str]:
    """A memory's (user, agent, session) as stored: '' for an absent id."""
    return (memory.user_id or "", memory.agent_id or "", memory.session_id or "")


def event_values(
    memory: Memory, event: EventKind, at: datetime, details: dict[str, Any] | None
) -> tuple[Any, ...]:
    """The parameters of ``INSERT_EVENT`` for an event of this memory as it is now."""
    return (
        memory.id,
        event.value,
        at,
        memory.content,
        dumps(memory.metadata),
        memory.importance_score,
        dumps(details or {}),
    )


def kept_event_values(memory_id: str, event: HistoryEvent) -> tuple[Any, ...]:
    """The parameters of ``INSERT_EVENT`` for an event recorded elsewhere (an import)."""
    return (
        memory_id,
        event.event.value,
        event.at,
        event.content,
        None if event.metadata is None else dumps(event.metadata),
        event.importance,
        dumps(event.details),
    )


EVENT_COLUMNS = "event, at, content, metadata, importance, details"


def to_event(row: Sequence[Any]) -> HistoryEvent:
    """An event from a row of ``EVENT_COLUMNS``."""
    return HistoryEvent(
        event=EventKind(row[0]),
        at=utc(row[1]),
        content=row[2],
        metadata=json.loads(row[3]) if row[3] else None,
        importance=row[4],
        details=json.loads(row[5]),
    )


def to_run(row: Sequence[Any]) -> RunRecord:
    """A ``consolidation_runs`` row (run_id, at, scope, counts, undone_at[, summary])."""
    return RunRecord(
        run_id=row[0],
        at=utc(row[1]),
        scope=json.loads(row[2]),
        counts=json.loads(row[3]),
        summary=json.loads(row[5]) if len(row) > 5 else {},
        undone_at=utc(row[4]),
    )


def insert_row(conn: Conn, memory: Memory, content_hash: str) -> None:
    """Store a memory that is not an add's (its own twin: see migration 1)."""
    conn.execute(INSERT_MEMORY, insert_values(memory, content_hash))


def update_row(conn: Conn, memory: Memory, content_hash: str) -> None:
    """Overwrite every column of a stored memory (found by id). A memory whose text changes
    becomes its own twin, so it never collides with the add-stored one of its new text."""
    values = row_values(memory)
    conn.execute(
        "UPDATE memories SET twin = CASE WHEN content_hash = %s THEN twin ELSE id END, "
        "content = %s, content_hash = %s, user_id = %s, agent_id = %s, "
        "session_id = %s, memory_type = %s, category = %s, metadata = %s, importance_score = %s, "
        "retention = %s, lifecycle_stage = %s, access_count = %s, last_accessed = %s, "
        "created_at = %s, updated_at = %s, version = %s WHERE id = %s",
        (content_hash, values[1], content_hash, *values[2:], memory.id),
    )


def delete_row(conn: Conn, memory_id: str) -> None:
    conn.execute("DELETE FROM memories WHERE id = %s", (memory_id,))


def record_event(
    conn: Conn, memory: Memory, event: EventKind, at: datetime, details: dict[str, Any] | None
) -> None:
    conn.execute(INSERT_EVENT, event_values(memory, event, at, details))

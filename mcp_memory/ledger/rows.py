"""A memory as a row and back: the column list, the conversions, and the statements that
write one row (insert, update, history event), shared by every write path."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mcp_memory.clock import from_iso, to_iso
from mcp_memory.errors import UnreadableMemory
from mcp_memory.models import EventKind, HistoryEvent, Memory, Stage
from mcp_memory.store.records import CandidateRow, RunRecord

COLUMNS = (
    "id, content, user_id, agent_id, session_id, memory_type, category, metadata, "
    "importance_score, retention, lifecycle_stage, access_count, last_accessed, "
    "created_at, updated_at, version"
)
"""The columns of a memory, in the order of ``row_values`` (``seq`` and the hash aside)."""

INSERT_MEMORY = (
    f"INSERT INTO memories (content_hash, {COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""One memory row; its parameters are ``insert_values``."""

INSERT_EVENT = (
    "INSERT INTO history (memory_id, event, at, content, metadata, importance, details) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
"""One history event; its parameters are ``event_values``."""


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
        json.dumps(memory.metadata, sort_keys=True),
        memory.importance_score,
        memory.retention.value,
        memory.lifecycle_stage.value,
        memory.access_count,
        to_iso(memory.last_accessed) if memory.last_accessed else None,
        to_iso(memory.created_at),
        to_iso(memory.updated_at),
        memory.version,
    )


def insert_values(memory: Memory, content_hash: str) -> tuple[Any, ...]:
    """The parameters of ``INSERT_MEMORY``."""
    return (content_hash, *row_values(memory))


def to_memory(row: sqlite3.Row) -> Memory:
    """The memory a row holds; ``UnreadableMemory`` (naming the column) if it cannot be
    decoded."""
    try:
        return _decode_memory(row)
    except (ValueError, TypeError) as exc:
        raise UnreadableMemory(row["id"], _problem(row, exc)) from None


def to_candidate(row: sqlite3.Row) -> tuple[str, CandidateRow]:
    """A ``Ledger.candidates`` row (id, content, importance_score, created_at, session_id,
    seq): its id and what ranking reads; ``UnreadableMemory`` if it cannot be decoded."""
    try:
        return row[0], CandidateRow(row[1], float(row[2]), from_iso(row[3]), bool(row[4]), row[5])
    except (ValueError, TypeError) as exc:
        raise UnreadableMemory(row[0], _problem(row, exc)) from None


def _problem(row: sqlite3.Row, exc: Exception) -> str:
    """Which column of a memory row fails to decode, and its value."""
    checks: dict[str, Callable[[Any], object]] = {
        "created_at": from_iso, "updated_at": from_iso, "last_accessed": from_iso,
        "metadata": json.loads, "lifecycle_stage": Stage, "importance_score": float,
    }  # fmt: skip
    names = set(row.keys())  # a Row's ``in`` looks at values, not names
    for column, decode in checks.items():
        if column in names and row[column] is not None:
            try:
                decode(row[column])
            except (ValueError, TypeError):
                return f"{column} {str(row[column])[:40]!r} is not valid"
    return str(exc).splitlines()[0][:200]


def _decode_memory(row: sqlite3.Row) -> Memory:
    return Memory(
        id=row["id"],
        content=row["content"],
        user_id=row["user_id"] or None,
        agent_id=row["agent_id"] or None,
        session_id=row["session_id"] or None,
        memory_type=row["memory_type"],
        category=row["category"],
        metadata=json.loads(row["metadata"]),
        importance_score=row["importance_score"],
        retention=row["retention"],
        lifecycle_stage=Stage(row["lifecycle_stage"]),
        access_count=row["access_count"],
        last_accessed=from_iso(row["last_accessed"]) if row["last_accessed"] else None,
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
        version=row["version"],
    )


def event_values(
    memory: Memory, event: EventKind, at: datetime, details: dict[str, Any] | None
) -> tuple[Any, ...]:
    """The parameters of ``INSERT_EVENT`` for an event of this memory as it is now."""
    return (
        memory.id,
        event.value,
        to_iso(at),
        memory.content,
        json.dumps(memory.metadata, sort_keys=True),
        memory.importance_score,
        json.dumps(details or {}, sort_keys=True),
    )


def kept_event_values(memory_id: str, event: HistoryEvent) -> tuple[Any, ...]:
    """The parameters of ``INSERT_EVENT`` for an event recorded elsewhere (an import)."""
    return (
        memory_id,
        event.event.value,
        to_iso(event.at),
        event.content,
        None if event.metadata is None else json.dumps(event.metadata, sort_keys=True),
        event.importance,
        json.dumps(event.details, sort_keys=True),
    )


def to_event(row: sqlite3.Row) -> HistoryEvent:
    return HistoryEvent(
        event=EventKind(row["event"]),
        at=from_iso(row["at"]),
        content=row["content"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else None,
        importance=row["importance"],
        details=json.loads(row["details"]),
    )


def to_run(row: sqlite3.Row) -> RunRecord:
    """A ``consolidation_runs`` row (run_id, at, scope, counts, undone_at[, summary])."""
    return RunRecord(
        run_id=row[0],
        at=from_iso(row[1]),
        scope=json.loads(row[2]),
        counts=json.loads(row[3]),
        summary=json.loads(row[5]) if len(row) > 5 else {},
        undone_at=from_iso(row[4]) if row[4] else None,
    )


def insert_row(conn: sqlite3.Connection, memory: Memory, content_hash: str) -> None:
    conn.execute(INSERT_MEMORY, insert_values(memory, content_hash))


def update_row(conn: sqlite3.Connection, memory: Memory, content_hash: str) -> None:
    """Overwrite every column of a stored memory (found by id)."""
    values = row_values(memory)
    conn.execute(
        "UPDATE memories SET content = ?, content_hash = ?, user_id = ?, agent_id = ?, "
        "session_id = ?, memory_type = ?, category = ?, metadata = ?, importance_score = ?, "
        "retention = ?, lifecycle_stage = ?, access_count = ?, last_accessed = ?, "
        "created_at = ?, updated_at = ?, version = ? WHERE id = ?",
        (values[1], content_hash, *values[2:], memory.id),
    )


def delete_row(conn: sqlite3.Connection, memory_id: str) -> None:
    conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,))


def record_event(
    conn: sqlite3.Connection,
    memory: Memory,
    event: EventKind,
    at: datetime,
    details: dict[str, Any] | None,
) -> None:
    conn.execute(INSERT_EVENT, event_values(memory, event, at, details))

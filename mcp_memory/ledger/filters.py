"""A ``MemoryFilter`` (a plain value) rendered in SQLite's dialect, list orders as ORDER BY
clauses, and when the running counts (migration 5) can answer instead of the rows."""

from __future__ import annotations

import json
from typing import Any

from mcp_memory.clock import to_iso
from mcp_memory.models import ListOrder
from mcp_memory.store.records import MemoryFilter

ORDER_SQL = {
    ListOrder.created: "created_at DESC, seq DESC",
    ListOrder.updated: "updated_at DESC, seq DESC",
    ListOrder.importance: "importance_score DESC, created_at DESC",
    ListOrder.accessed: "last_accessed IS NULL, last_accessed DESC, access_count DESC",
}


def render(flt: MemoryFilter) -> tuple[str, list[Any]]:
    """The SQL condition of a filter, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("user_id", "agent_id", "session_id"):
        value = getattr(flt.scope, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    for column in ("memory_type", "category"):
        value = getattr(flt, column)
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(str(value))
    for key, value in flt.metadata.items():
        clauses.append("json_extract(metadata, ?) = ?")
        params.extend([json_path(key), _sql_json_value(value)])
    if flt.since is not None:
        clauses.append("created_at >= ?")
        params.append(to_iso(flt.since))
    if flt.until is not None:
        clauses.append("created_at <= ?")
        params.append(to_iso(flt.until))
    if flt.stages is not None:
        clauses.append(f"lifecycle_stage IN ({','.join('?' * len(flt.stages))})")
        params.extend(flt.stages)
    if flt.exclude_stages:
        clauses.append(f"lifecycle_stage NOT IN ({','.join('?' * len(flt.exclude_stages))})")
        params.extend(flt.exclude_stages)
    return (" AND ".join(clauses) or "1=1"), params


def json_path(key: str) -> str:
    """A JSON path selecting one top-level key (keys are checked to hold no quote)."""
    return f'$."{key}"'


def _sql_json_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def counts_cover(flt: MemoryFilter) -> bool:
    """Whether ``memory_counts`` can answer for this filter (a user and/or agent scope only)."""
    return flt == MemoryFilter(scope=flt.scope) and flt.scope.session_id is None


def counts_answer(flt: MemoryFilter) -> bool:
    """Whether ``memory_counts`` holds every column this filter tests."""
    return (
        flt.scope.session_id is None
        and not flt.metadata
        and flt.since is None
        and flt.until is None
    )

"""A ``MemoryFilter`` (a plain value) rendered in PostgreSQL's dialect, list orders as ORDER BY
clauses, and when the running counts (migration 4) can answer instead of the rows.

Metadata values compare as the SQLite ledger compares them (``json_extract(...) = ?``): a
number or boolean by value (true is 1), a string by its text, ``None`` matches nothing; a list
or object compares as JSON, which SQLite's text comparison never matched.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_memory.models import ListOrder
from mcp_memory.store.records import MemoryFilter

ORDER_SQL = {
    ListOrder.created: "created_at DESC, seq DESC",
    ListOrder.updated: "updated_at DESC, seq DESC",
    ListOrder.importance: "importance_score DESC, created_at DESC, seq DESC",
    ListOrder.accessed: "last_accessed DESC NULLS LAST, access_count DESC, seq DESC",
}

_NUMBER = (
    "CASE jsonb_typeof(metadata::jsonb -> %s) WHEN 'number' THEN (metadata::jsonb -> %s)::numeric "
    "WHEN 'boolean' THEN (metadata::jsonb -> %s)::boolean::int END = %s"
)
_STRING = "(metadata::jsonb -> %s) = to_jsonb(%s::text)"
_JSON = "(metadata::jsonb -> %s) = %s::jsonb"


def render(flt: MemoryFilter) -> tuple[str, list[Any]]:
    """The SQL condition of a filter (over ``memories``' columns), and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column in ("user_id", "agent_id", "session_id"):
        value = getattr(flt.scope, column)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    for column in ("memory_type", "category"):
        value = getattr(flt, column)
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(str(value))
    for key, value in flt.metadata.items():
        clause, values = _metadata(key, value)
        clauses.append(clause)
        params.extend(values)
    if flt.since is not None:
        clauses.append("created_at >= %s")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("created_at <= %s")
        params.append(flt.until)
    if flt.stages is not None:
        clauses.append("lifecycle_stage = ANY(%s)")
        params.append(list(flt.stages))
    if flt.exclude_stages:
        clauses.append("lifecycle_stage <> ALL(%s)")
        params.append(list(flt.exclude_stages))
    return (" AND ".join(clauses) or "TRUE"), params


def _metadata(key: str, value: Any) -> tuple[str, list[Any]]:
    if value is None:
        return "FALSE", []
    if isinstance(value, bool | int | float):
        return _NUMBER, [key, key, key, value if isinstance(value, float) else int(value)]
    if isinstance(value, str):
        return _STRING, [key, value]
    return _JSON, [key, json.dumps(value)]


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

"""What a read's arguments select: a validated ``MemoryFilter`` (a plain value each ledger
engine renders), archived memories hidden unless asked for."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from mcp_memory.config import LimitSettings
from mcp_memory.errors import InvalidInput
from mcp_memory.models import Category, MemoryType, Scope, Stage
from mcp_memory.policy import validation
from mcp_memory.store.records import MemoryFilter

ARCHIVED = (Stage.archived.value,)


def memory_filter(
    limits: LimitSettings,
    scope: Scope,
    memory_type: Any = None,
    category: Any = None,
    metadata: Any = None,
    since: Any = None,
    until: Any = None,
    *,
    now: datetime,
    stages: tuple[str, ...] | None = None,
    include_archived: bool = False,
) -> MemoryFilter:
    """The filter of a search or list within ``scope`` (validated by the caller, first), each
    argument validated in turn; archived memories are left out unless ``include_archived`` or
    ``stages`` asks for them."""
    return MemoryFilter(
        scope=scope,
        memory_type=None
        if memory_type is None
        else validation.choice(memory_type, MemoryType, "memory_type").value,
        category=None
        if category is None
        else validation.choice(category, Category, "category").value,
        metadata=validation.metadata(metadata, limits),
        since=None if since is None else validation.timestamp(since, "since", now, limits=limits),
        until=None if until is None else validation.timestamp(until, "until", now, limits=limits),
        stages=stages,
        exclude_stages=() if include_archived or stages else ARCHIVED,
    )


def created_until(flt: MemoryFilter, until: Any, now: datetime) -> MemoryFilter:
    """``flt`` narrowed to memories created at or before ``until`` (None: ``flt`` itself)."""
    if until is None:
        return flt
    return replace(flt, until=validation.timestamp(until, "until", now))


def min_score(value: Any) -> float | None:
    """A search's score floor: a number, or None for none."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise InvalidInput("min_score must be a number")
    return value

"""What is let into the store: a new memory built from an add's arguments, the changes an update
asks for, and secrets cut out of both first.

Pure functions of the settings they are given: every argument is validated (in the order the
errors are reported) before anything is stored, and the scores an add leaves unset (importance,
retention tier) are computed here, so ``add``, ``add_many`` and the MCP tools agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mcp_memory.config import (
    ImportanceSettings,
    LimitSettings,
    RedactionSettings,
    RetentionSettings,
)
from mcp_memory.errors import InvalidInput
from mcp_memory.models import Category, EventKind, Memory, MemoryType, Retention, Stage
from mcp_memory.policy import lifecycle, redaction, validation
from mcp_memory.policy.importance import importance_of

# The keyword arguments of ``add`` besides ``content`` (``add_many`` items take the same).
ADD_ARGS = (
    "user_id", "agent_id", "session_id", "memory_type", "category", "metadata", "importance",
    "retention", "created_at",
)  # fmt: skip


def redaction_rules(settings: RedactionSettings) -> tuple[redaction.Rule, ...]:
    """The compiled rules (none when redaction is off): compiled once, used by every write."""
    if not settings.enabled:
        return ()
    return redaction.compile_rules(settings.patterns, settings.disabled, settings.builtin_patterns)


def redact(
    content: Any, metadata: Any, rules: Sequence[redaction.Rule], replacement: str
) -> tuple[Any, Any, list[str]]:
    """Content and metadata with secrets replaced, and the kinds found (none if disabled).
    Values of the wrong type pass through untouched: validation reports them next."""
    if not rules:
        return content, metadata, []
    kinds: set[str] = set()
    if isinstance(content, str):
        content, found = redaction.redact(content, rules, replacement)
        kinds.update(found)
    if isinstance(metadata, dict):
        metadata, found = redaction.redact_value(metadata, rules, replacement)
        kinds.update(found)
    return content, metadata, sorted(kinds)


def new_memory(
    content: Any, user_id: Any, agent_id: Any, session_id: Any, memory_type: Any,
    category: Any, metadata: Any, importance: Any, retention: Any, created_at: Any,
    *, now: datetime, limits: LimitSettings, scores: ImportanceSettings,
    tiers: RetentionSettings,
) -> Memory:  # fmt: skip
    """A new memory from an add's (redacted) arguments, validated; importance and retention
    tier computed when not given (``scores`` and ``tiers`` say how)."""
    text = validation.content(content, limits)
    scope = validation.scope(limits, user_id, agent_id, session_id)
    mtype = validation.choice(memory_type, MemoryType, "memory_type")
    cat = validation.choice(category, Category, "category")
    meta = validation.metadata(metadata, limits)
    if importance is None:
        score = importance_of(text, cat.value, scores)
    else:
        score = validation.unit_interval(importance, "importance")
    if retention is None:
        tier = lifecycle.retention_for(score, tiers)
    else:
        tier = validation.choice(retention, Retention, "retention")
    created = (
        now
        if created_at is None
        else validation.timestamp(created_at, "created_at", now, allow_future=False, limits=limits)
    )
    return Memory(
        id=uuid.uuid4().hex,
        content=text,
        **scope.model_dump(),
        memory_type=mtype,
        category=cat,
        metadata=meta,
        importance_score=score,
        retention=tier,
        lifecycle_stage=Stage.active,
        access_count=0,
        created_at=created,
        updated_at=now,
        version=1,
    )


def changes(
    limits: LimitSettings, content: Any, metadata: Any, importance: Any, memory_type: Any,
    category: Any, lifecycle_stage: Any,
) -> dict[str, Any]:  # fmt: skip
    """The validated fields an update sets (only those given), keyed as ``Memory`` names them."""
    found: dict[str, Any] = {}
    if content is not None:
        found["content"] = validation.content(content, limits)
    if metadata is not None:
        found["metadata"] = validation.metadata(metadata, limits)
    if importance is not None:
        found["importance_score"] = validation.unit_interval(importance, "importance")
    if memory_type is not None:
        found["memory_type"] = validation.choice(memory_type, MemoryType, "memory_type")
    if category is not None:
        found["category"] = validation.choice(category, Category, "category")
    if lifecycle_stage is not None:
        found["lifecycle_stage"] = validation.choice(lifecycle_stage, Stage, "lifecycle_stage")
    return found


def revised(old: Memory, changes: dict[str, Any], now: datetime) -> tuple[Memory, EventKind]:
    """The next version of a memory with these changes, and the history event it records."""
    if not changes:
        raise InvalidInput(
            "nothing to update: give content, metadata, importance, memory_type, category "
            "or lifecycle_stage"
        )
    new = old.model_copy(update={**changes, "updated_at": now, "version": old.version + 1})
    return new, _stage_event(old.lifecycle_stage, new.lifecycle_stage)


def _stage_event(old: Stage, new: Stage) -> EventKind:
    if old != new and new == Stage.archived:
        return EventKind.ARCHIVE
    if old == Stage.archived and new != Stage.archived:
        return EventKind.RESTORE
    return EventKind.UPDATE

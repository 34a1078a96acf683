"""Records for bulk import and export: one memory per JSON object (a line of a JSONL file).

An exported record is a memory as ``get_memory`` returns it plus its ``history``, so
``export`` then ``import`` restores every memory with its id, scopes, scores, stage, timestamps
and history. A record may also be minimal (``{"content": ..., "user_id": ...}``): without an id
it is added like ``add_memory`` would (importance and retention computed, an exact duplicate in
its scope skipped); with an id it is stored as given, unless that id is already stored. Both
rules make importing the same file twice change nothing.

Secrets are redacted as ``add_memory`` redacts them (``policy/admission.py``), in the content,
the metadata and every history event's copy of them: a file from elsewhere may hold any.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from mcp_memory.config import ImportanceSettings, LimitSettings, RetentionSettings
from mcp_memory.errors import InvalidInput
from mcp_memory.models import Category, HistoryEvent, Memory, MemoryType, Retention, Stage
from mcp_memory.policy import admission, lifecycle, redaction, validation
from mcp_memory.policy.importance import importance_of
from mcp_memory.store.records import ImportRow

FIELDS = frozenset(Memory.model_fields) | {"history", "importance"}


@dataclass(frozen=True)
class RecordPolicy:
    """What parsing a record needs from the settings; ``rules`` are the compiled redaction
    rules (``admission.redaction_rules``; none: nothing is redacted)."""

    limits: LimitSettings
    importance: ImportanceSettings
    retention: RetentionSettings
    rules: Sequence[redaction.Rule] = ()
    replacement: str = redaction.DEFAULT_REPLACEMENT

    def redact(self, content: Any, metadata: Any, found: Counter[str] | None) -> tuple[Any, Any]:
        """Content and metadata with secrets cut out (``admission.redact``); each kind found
        is counted once in ``found``."""
        content, metadata, kinds = admission.redact(content, metadata, self.rules, self.replacement)
        if found is not None:
            found.update(kinds)
        return content, metadata


def to_record(memory: Memory, history: list[HistoryEvent]) -> dict[str, Any]:
    """The exported form of a memory: its fields and its history, JSON-ready."""
    record = memory.model_dump(mode="json")
    record["history"] = [event.model_dump(mode="json") for event in history]
    return record


def parse_record(
    record: Any, policy: RecordPolicy, now: datetime, redacted: Counter[str] | None = None
) -> ImportRow:
    """Validate one record into a memory ready to store, secrets redacted (the kinds counted in
    ``redacted``, once per record); raises ``InvalidInput`` naming the field."""
    if not isinstance(record, dict):
        raise InvalidInput("a record must be a JSON object with at least a 'content' field")
    unknown = sorted(set(record) - FIELDS)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)}; a record may hold: {', '.join(sorted(FIELDS))}"
        )
    kinds: Counter[str] = Counter()
    content, metadata = policy.redact(record.get("content"), record.get("metadata"), kinds)
    record = {**record, "content": content, "metadata": metadata}
    get = record.get
    text = validation.content(get("content"), policy.limits)
    scope = validation.scope(policy.limits, get("user_id"), get("agent_id"), get("session_id"))
    category = validation.choice(get("category") or Category.general, Category, "category")
    score = _first(get("importance_score"), get("importance"))
    if score is None:
        score = importance_of(text, category.value, policy.importance)
    else:
        score = validation.unit_interval(score, "importance_score")
    retention = get("retention")
    created = _time(get("created_at"), "created_at", now, policy, now, allow_future=False)
    memory_id = get("id")
    row = ImportRow(
        memory=Memory(
            id=uuid.uuid4().hex if memory_id is None else validation.memory_id(memory_id),
            content=text,
            **scope.model_dump(),
            memory_type=validation.choice(
                get("memory_type") or MemoryType.semantic, MemoryType, "memory_type"
            ),
            category=category,
            metadata=validation.metadata(get("metadata"), policy.limits),
            importance_score=score,
            retention=lifecycle.retention_for(score, policy.retention)
            if retention is None
            else validation.choice(retention, Retention, "retention"),
            lifecycle_stage=validation.choice(
                get("lifecycle_stage") or Stage.active, Stage, "lifecycle_stage"
            ),
            access_count=_count(get("access_count", 0), "access_count", minimum=0),
            last_accessed=_time(get("last_accessed"), "last_accessed", now, policy, None),
            created_at=created,
            updated_at=_time(get("updated_at"), "updated_at", now, policy, max(created, now)),
            version=_count(get("version", 1), "version", minimum=1),
        ),
        content_hash=validation.content_hash(text),
        history=_history(get("history"), now, policy, kinds),
        dedupe=memory_id is None,
    )
    if redacted is not None:
        redacted.update(set(kinds))
    return row


def parse_many(
    records: list[tuple[int, Any]],
    policy: RecordPolicy,
    now: datetime,
    redacted: Counter[str] | None = None,
) -> list[ImportRow]:
    """Parse numbered records; an error names the record's number (its line in a file)."""
    rows = []
    for number, record in records:
        try:
            rows.append(parse_record(record, policy, now, redacted))
        except InvalidInput as exc:
            raise InvalidInput(f"record {number}: {exc}") from None
    return rows


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _count(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(f"{field} must be a whole number of at least {minimum}, got {value!r}")
    return value


def _time(
    value: Any,
    field: str,
    now: datetime,
    policy: RecordPolicy,
    default: Any,
    allow_future: bool = True,
) -> datetime | Any:
    if value is None:
        return default
    return validation.timestamp(value, field, now, allow_future, limits=policy.limits)


def _history(
    value: Any, now: datetime, policy: RecordPolicy, found: Counter[str]
) -> list[HistoryEvent] | None:
    """The events of a record, each one's copy of the content and metadata redacted."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput("history must be a list of events")
    try:
        events = [HistoryEvent.model_validate(event) for event in value]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"history event field {where}: {first['msg']}") from None
    for event in events:
        _time(event.at, "history event field at", now, policy, None)
        event.content, event.metadata = policy.redact(event.content, event.metadata, found)
    return events

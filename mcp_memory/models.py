"""The shapes that cross the service boundary: enums, a memory, and each tool's reply.

Field descriptions become the JSON schema an agent reads, so they are written for an agent.
Replies are validated against these models by the MCP SDK before they leave the server, which
keeps the structured content in step with the declared output schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MetadataValue = str | int | float | bool | None | list[Any] | dict[str, Any]
"""A metadata value as stored; input values are checked by ``validation.check_metadata``."""


class MemoryType(StrEnum):
    """What kind of knowing a memory records."""

    episodic = "episodic"
    semantic = "semantic"
    procedural = "procedural"


class Category(StrEnum):
    """What a memory is about; sets its base importance."""

    preference = "preference"
    fact = "fact"
    experience = "experience"
    relationship = "relationship"
    skill = "skill"
    general = "general"


class Retention(StrEnum):
    """How long a memory is kept before it ages out (see lifecycle)."""

    ephemeral = "ephemeral"
    short_term = "short_term"
    medium_term = "medium_term"
    long_term = "long_term"


class Stage(StrEnum):
    """Where a memory stands in its lifecycle; only consolidation moves it."""

    active = "active"
    aging = "aging"
    archiving_soon = "archiving_soon"
    archived = "archived"


class EventKind(StrEnum):
    """The kinds of event a memory's history records."""

    ADD = "ADD"
    UPDATE = "UPDATE"
    MERGE = "MERGE"
    ARCHIVE = "ARCHIVE"
    RESTORE = "RESTORE"
    DELETE = "DELETE"


class ListOrder(StrEnum):
    """Orders for list_memories, newest or highest first."""

    created = "created"
    updated = "updated"
    importance = "importance"
    accessed = "accessed"


class Scope(BaseModel):
    """Who a memory belongs to. As a filter, a field left empty matches anything."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None

    def key(self) -> tuple[str, str, str]:
        """A hashable key, empty strings for absent ids (as stored in the ledger)."""
        return (self.user_id or "", self.agent_id or "", self.session_id or "")


class Memory(BaseModel):
    """One stored memory, as the ledger holds it."""

    id: str = Field(description="Stable id; pass it to get/update/delete/history.")
    content: str = Field(description="The remembered text.")
    user_id: str | None = Field(None, description="User scope, or null for none.")
    agent_id: str | None = Field(None, description="Agent scope, or null for none.")
    session_id: str | None = Field(None, description="Session scope, or null for none.")
    memory_type: MemoryType
    category: Category
    metadata: dict[str, Any] = Field(default_factory=dict)
    importance_score: float = Field(description="0..1; higher ranks higher and lives longer.")
    retention: Retention
    lifecycle_stage: Stage
    access_count: int = Field(description="How many times search or get returned it.")
    last_accessed: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="1 when added, +1 on each update or merge.")

    @property
    def scope(self) -> Scope:
        """The scope it was added with."""
        return Scope(user_id=self.user_id, agent_id=self.agent_id, session_id=self.session_id)


class AddResult(BaseModel):
    """Reply of add_memory."""

    id: str = Field(description="Id of the stored memory (the existing one for a duplicate).")
    memory: Memory
    duplicate_of: str | None = Field(
        None, description="Set when the same text already existed in this scope: its id."
    )
    redacted: list[str] = Field(
        default_factory=list,
        description="Kinds of secret (api_key, password, ...) cut out before storing, if any.",
    )


class SearchHit(BaseModel):
    """One search result."""

    id: str
    content: str
    score: float = Field(
        description="Final ranking score (relevance plus boosts), higher is better."
    )
    similarity: float = Field(description="Cosine similarity of the query and the memory text.")
    memory: Memory


class SearchResult(BaseModel):
    """Reply of search_memory, best first."""

    results: list[SearchHit]
    query: str


class MemoryResult(BaseModel):
    """Reply of get_memory and update_memory."""

    memory: Memory
    redacted: list[str] = Field(
        default_factory=list,
        description="update_memory: kinds of secret cut out of the new text before storing.",
    )


class ListResult(BaseModel):
    """Reply of list_memories: one page and the total that matched."""

    memories: list[Memory]
    total: int


class DeleteResult(BaseModel):
    """Reply of delete_memory."""

    id: str
    deleted: bool


class HistoryEvent(BaseModel):
    """One event in a memory's history, with the memory's state after it."""

    event: EventKind
    at: datetime
    content: str | None = None
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, description="Extra facts, e.g. the ids a merge absorbed."
    )


class HistoryResult(BaseModel):
    """Reply of memory_history, oldest first."""

    id: str
    events: list[HistoryEvent]


class ConsolidationAction(BaseModel):
    """One change a consolidation run made (or, in a dry run, would make)."""

    action: str = Field(
        description="merge, remove_redundant, boost, decay, stage, archive, delete."
    )
    memory_id: str = Field(description="The memory kept or changed.")
    other_ids: list[str] = Field(default_factory=list, description="Memories absorbed or removed.")
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class ConsolidateResult(BaseModel):
    """Reply of consolidate: counts per kind of action, and the actions themselves."""

    run_id: str
    dry_run: bool
    duplicates_merged: int = 0
    redundancies_eliminated: int = 0
    importance_boosted: int = 0
    decayed: int = 0
    stages_updated: int = 0
    archived: int = 0
    deleted: int = 0
    actions: list[ConsolidationAction] = Field(default_factory=list)
    undone: bool = Field(
        False, description="True when this reply reports undoing run_id: its actions reversed."
    )


class ConsolidationRun(BaseModel):
    """A past consolidation run, as the journal keeps it (pass run_id to consolidate's undo)."""

    run_id: str
    at: datetime
    user_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    counts: dict[str, int] = Field(description="How many actions of each kind it took.")
    undone_at: datetime | None = None


class AgeDistribution(BaseModel):
    """How many memories were created in each age band."""

    last_24h: int = 0
    last_week: int = 0
    last_month: int = 0
    older: int = 0


class IndexReport(BaseModel):
    """How the vector index compares with the ledger (which is the truth)."""

    memories: int = Field(description="Memories in the ledger.")
    vectors: int = Field(description="Vectors in the index.")
    pending: int = Field(description="Index changes queued and not yet applied.")
    missing: list[str] = Field(default_factory=list, description="Memories with no vector.")
    orphans: list[str] = Field(default_factory=list, description="Vectors with no memory.")

    @property
    def agrees(self) -> bool:
        return not self.missing and not self.orphans and self.pending == 0


class StatsResult(BaseModel):
    """Reply of stats, over the memories the scope filter matches."""

    total_memories: int
    by_user: dict[str, int]
    by_type: dict[str, int]
    by_category: dict[str, int]
    by_stage: dict[str, int]
    by_retention: dict[str, int]
    age_distribution: AgeDistribution
    average_importance: float
    vectors_indexed: int = Field(
        description="Vectors in the index: all of them without a scope; with one, how many of "
        "the scope's memories have theirs."
    )
    pending_index: int = Field(
        description="Index changes committed and not yet applied (with a scope: those of the "
        "scope's memories)."
    )
    index_in_sync: bool = Field(
        True,
        description="Whether the vector index holds exactly the ledger's memories (of the scope, "
        "if one is given): nothing pending, every memory with its vector; false until start-up "
        "or `mcp-memory doctor --repair` fixes it.",
    )
    embedder: str
    storage_bytes: int | None = Field(
        description="The data directory's size on disk; null with a scope (the files hold "
        "every scope together)."
    )
    last_consolidation: ConsolidationRun | None = Field(
        None,
        description="The latest consolidation run over this scope or a part of it, if any (a "
        "run over a wider scope is not shown: its figures cover memories outside).",
    )

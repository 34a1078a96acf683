"""The nine tools of the contract, one function each: take the arguments, call the service in a
worker thread, shape the reply.

A reply is structured content (the pydantic model of ``models.py`` named in the return
annotation, from which the SDK derives the output schema) plus a short text for the agent. Each
function's docstring is its description; its arguments are described in ``arguments.py``.
``TOOLS`` lists them in the order they are published, each with its behaviour hints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from mcp_memory.consolidation.summary import consolidate_summary
from mcp_memory.mcp.arguments import (
    AgentId,
    CategoryChoice,
    Content,
    CreatedAt,
    DryRun,
    Importance,
    MemoryId,
    MemoryTypeChoice,
    Metadata,
    MetadataMatch,
    MinScore,
    NewCategory,
    NewContent,
    NewImportance,
    NewMemoryType,
    NewMetadata,
    NewStage,
    Offset,
    OnlyCategory,
    OnlyMemoryType,
    OnlyStage,
    Order,
    PageSize,
    Query,
    RetentionChoice,
    SearchLimit,
    SessionId,
    Since,
    UndoRun,
    Until,
    UserId,
    WithArchived,
)
from mcp_memory.mcp.calls import call, service_for
from mcp_memory.models import (
    AddResult,
    Category,
    ConsolidateResult,
    DeleteResult,
    HistoryResult,
    ListOrder,
    ListResult,
    Memory,
    MemoryResult,
    MemoryType,
    SearchResult,
    StatsResult,
)

READ_ONLY = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
DESTRUCTIVE = ToolAnnotations(destructiveHint=True, openWorldHint=False)

F = TypeVar("F", bound=Callable[..., Any])
TOOLS: dict[str, tuple[Callable[..., Any], ToolAnnotations]] = {}


def _tool(annotations: ToolAnnotations) -> Callable[[F], F]:
    """List the function in ``TOOLS`` under its name, with its behaviour hints."""

    def listed(fn: F) -> F:
        TOOLS[fn.__name__] = (fn, annotations)
        return fn

    return listed


def _reply(model: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )


def _line(memory: Memory) -> str:
    scope = ", ".join(
        f"{k}={v}" for k in ("user_id", "agent_id", "session_id") if (v := getattr(memory, k))
    )
    return f"{memory.content} (id {memory.id}{'; ' + scope if scope else ''})"


def _redacted_note(kinds: list[str]) -> str:
    return f" [secrets redacted before storing: {', '.join(kinds)}]" if kinds else ""


@_tool(WRITES)
async def add_memory(
    ctx: Context,
    content: Content,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    memory_type: MemoryTypeChoice = MemoryType.semantic.value,
    category: CategoryChoice = Category.general.value,
    metadata: Metadata = None,
    importance: Importance = None,
    retention: RetentionChoice = None,
    created_at: CreatedAt = None,
) -> Annotated[CallToolResult, AddResult]:
    """Remember something for later conversations. An exact duplicate in the same scope is
    not stored twice: the reply's duplicate_of names the memory that already holds it."""
    result = await call(
        ctx,
        service_for(ctx).add,
        content,
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        memory_type=memory_type,
        category=category,
        metadata=metadata,
        importance=importance,
        retention=retention,
        created_at=created_at,
    )
    verb = "Already remembered" if result.duplicate_of else "Remembered"
    return _reply(result, f"{verb}: {_line(result.memory)}{_redacted_note(result.redacted)}")


@_tool(READ_ONLY)
async def search_memory(
    ctx: Context,
    query: Query,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    memory_type: OnlyMemoryType = None,
    category: OnlyCategory = None,
    metadata: MetadataMatch = None,
    since: Since = None,
    until: Until = None,
    limit: SearchLimit = 10,
    min_score: MinScore = None,
    include_archived: WithArchived = False,
) -> Annotated[CallToolResult, SearchResult]:
    """Find the memories that best answer a question, best first. Scope arguments filter:
    user_id alone spans all of that user's agents and sessions."""
    result = await call(
        ctx,
        service_for(ctx).search,
        query,
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        memory_type=memory_type,
        category=category,
        metadata=metadata,
        since=since,
        until=until,
        limit=limit,
        min_score=min_score,
        include_archived=include_archived,
    )
    lines = [f"{i}. [{h.score:.3f}] {_line(h.memory)}" for i, h in enumerate(result.results, 1)]
    return _reply(result, "\n".join(lines) or "No matching memories.")


@_tool(READ_ONLY)
async def get_memory(ctx: Context, id: MemoryId) -> Annotated[CallToolResult, MemoryResult]:
    """Read one memory by id, with its scores and lifecycle state."""
    result = await call(ctx, service_for(ctx).get, id)
    return _reply(result, _line(result.memory))


@_tool(READ_ONLY)
async def list_memories(
    ctx: Context,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    memory_type: OnlyMemoryType = None,
    category: OnlyCategory = None,
    stage: OnlyStage = None,
    limit: PageSize = 20,
    offset: Offset = 0,
    order: Order = ListOrder.created.value,
) -> Annotated[CallToolResult, ListResult]:
    """Browse stored memories page by page, with the total that match."""
    result = await call(
        ctx,
        service_for(ctx).list,
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        memory_type=memory_type,
        category=category,
        stage=stage,
        limit=limit,
        offset=offset,
        order=order,
    )
    lines = [f"- {_line(m)}" for m in result.memories]
    return _reply(result, f"{result.total} memories match.\n" + "\n".join(lines))


@_tool(WRITES)
async def update_memory(
    ctx: Context,
    id: MemoryId,
    content: NewContent = None,
    metadata: NewMetadata = None,
    importance: NewImportance = None,
    memory_type: NewMemoryType = None,
    category: NewCategory = None,
    lifecycle_stage: NewStage = None,
) -> Annotated[CallToolResult, MemoryResult]:
    """Correct or refine a memory. The previous version stays in its history."""
    result = await call(
        ctx,
        service_for(ctx).update,
        id,
        content=content,
        metadata=metadata,
        importance=importance,
        memory_type=memory_type,
        category=category,
        lifecycle_stage=lifecycle_stage,
    )
    memory = result.memory
    text = f"Updated (version {memory.version}): {_line(memory)}"
    return _reply(result, text + _redacted_note(result.redacted))


@_tool(DESTRUCTIVE)
async def delete_memory(ctx: Context, id: MemoryId) -> Annotated[CallToolResult, DeleteResult]:
    """Forget a memory: it leaves search and lists; its history keeps a DELETE event."""
    result = await call(ctx, service_for(ctx).delete, id)
    return _reply(result, f"Deleted memory {result.id}.")


@_tool(READ_ONLY)
async def memory_history(ctx: Context, id: MemoryId) -> Annotated[CallToolResult, HistoryResult]:
    """Every change to a memory, oldest first (ADD, UPDATE, MERGE, ARCHIVE, RESTORE, DELETE),
    each with the text, metadata and importance it had after that event."""
    result = await call(ctx, service_for(ctx).history, id)
    lines = [f"{e.at.isoformat()} {e.event.value}: {e.content}" for e in result.events]
    return _reply(result, "\n".join(lines))


@_tool(DESTRUCTIVE)
async def consolidate(
    ctx: Context,
    user_id: UserId = None,
    agent_id: AgentId = None,
    session_id: SessionId = None,
    dry_run: DryRun = False,
    undo: UndoRun = None,
) -> Annotated[CallToolResult, ConsolidateResult]:
    """Tidy memory within each scope: merge duplicates and redundant texts, boost often-used
    memories, decay old ones, move lifecycle stages, archive aged-out or excess memories and
    delete long-archived unimportant ones. Every run is journaled and can be undone with
    undo=run_id. Use dry_run first to see the actions."""
    result = await call(
        ctx,
        service_for(ctx).consolidate,
        user_id=user_id,
        agent_id=agent_id,
        session_id=session_id,
        dry_run=dry_run,
        undo=undo,
    )
    return _reply(result, consolidate_summary(result))


@_tool(READ_ONLY)
async def stats(
    ctx: Context, user_id: UserId = None, agent_id: AgentId = None, session_id: SessionId = None
) -> Annotated[CallToolResult, StatsResult]:
    """Counts of stored memories by user, type, category, stage and retention, their age,
    average importance and the state of the index."""
    result = await call(
        ctx, service_for(ctx).stats, user_id=user_id, agent_id=agent_id, session_id=session_id
    )
    return _reply(
        result,
        f"{result.total_memories} memories, {result.vectors_indexed} vectors indexed, "
        f"{result.pending_index} pending; average importance {result.average_importance}.",
    )

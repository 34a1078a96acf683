"""The MCP layer: the tools of the contract over stdio, SSE and streamable HTTP.

Thin by design: each tool parses its arguments, calls ``MemoryService`` in a worker thread (so a
slow embedding never stalls other clients), and shapes the reply as structured content (the
pydantic models of ``models.py``, which the SDK turns into the output schema) plus a short text.
Core errors are translated here, once, into ``ToolError`` so the agent reads their message.

The service is built once per process by ``serve`` and shared by every connection: the SDK
enters the MCP lifespan per SSE connection, so the lifespan only hands the service out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from mcp_memory import __version__
from mcp_memory.config import SecuritySettings, ServerSettings, Settings
from mcp_memory.consolidation import schedule
from mcp_memory.errors import ConfigError, MemoryNotFound, MemoryServiceError
from mcp_memory.mcp.auth import GRANT_KEY, BearerAuth, is_loopback
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
    Retention,
    Scope,
    SearchResult,
    Stage,
    StatsResult,
)
from mcp_memory.policy import access
from mcp_memory.policy.access import Grant
from mcp_memory.service import MemoryService

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Long-term memory that persists across conversations. Search it (search_memory) before answering
questions about the user, their preferences, projects or earlier conversations. Store
(add_memory) durable facts, preferences, decisions and events worth recalling later: one
self-contained statement per memory, written so it makes sense out of context. Pass user_id
(and agent_id / session_id when useful) so memories stay with the person they belong to."""

T = TypeVar("T", bound=BaseModel)


class Activity:
    """The tool calls in progress, so that start-up work that would stall them (opening the
    vector index) can wait for a moment with none."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._cond:
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until no call is running (True), or ``timeout`` seconds have passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout)


@dataclass
class AppState:
    """What the MCP lifespan yields to every tool call: the process's one service, and the
    count of calls in progress."""

    service: MemoryService
    activity: Activity = field(default_factory=Activity)


def _enum(values: type, description: str) -> Any:
    """A string field whose schema lists the allowed values; the service checks them."""
    return Field(description=description, json_schema_extra={"enum": [v.value for v in values]})


UserId = Annotated[
    str | None,
    Field(description="The user this memory is about or belongs to, e.g. 'alice'. Filters by it."),
]
AgentId = Annotated[str | None, Field(description="The agent or app scope, e.g. 'coding-agent'.")]
SessionId = Annotated[
    str | None, Field(description="The conversation or session, to keep its memories together.")
]
MetadataArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="JSON object of extra fields; values are strings, numbers, booleans or "
        'lists of those, e.g. {"project": "alpha", "tags": ["db"]}.'
    ),
]


def _service(ctx: Context) -> MemoryService:
    """The service, with the caller's grant (from its bearer token) made current for the call.

    Every tool goes through here, so every tool call runs confined to its token's scopes.
    """
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    access.set_current(scope.get(GRANT_KEY) if isinstance(scope, dict) else None)
    return ctx.request_context.lifespan_context.service


def _redacted_note(kinds: list[str]) -> str:
    return f" [secrets redacted before storing: {', '.join(kinds)}]" if kinds else ""


async def _run(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking service call in a worker thread; core errors become tool errors."""
    try:
        with ctx.request_context.lifespan_context.activity.running():
            return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))
    except MemoryServiceError as exc:
        raise ToolError(str(exc)) from exc


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


def create_server(
    service: MemoryService, tools: str = "full", activity: Activity | None = None
) -> MCPServer:
    """An MCPServer exposing the contract's tools (all, or the ``core`` profile), resources and
    prompt over the given service; ``activity`` counts its tool calls in progress."""
    state = AppState(service, activity or Activity())

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:
        yield state

    mcp = MCPServer("mcp-memory", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan)
    _register_tools(mcp)
    _apply_tool_profile(mcp, tools)
    _compact_output_schemas(mcp)
    _register_resources(mcp)
    _register_prompts(mcp)
    return mcp


def _register_tools(mcp: MCPServer) -> None:
    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
    writes = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)

    @mcp.tool(annotations=writes)
    async def add_memory(
        ctx: Context,
        content: Annotated[
            str, Field(description="The text to remember: one self-contained statement.")
        ],
        user_id: UserId = None,
        agent_id: AgentId = None,
        session_id: SessionId = None,
        memory_type: Annotated[
            str,
            _enum(
                MemoryType,
                "episodic (an event), semantic (a fact or preference) or procedural (how to do "
                "something).",
            ),
        ] = MemoryType.semantic.value,
        category: Annotated[
            str, _enum(Category, "What it is about; sets its base importance.")
        ] = Category.general.value,
        metadata: MetadataArg = None,
        importance: Annotated[
            float | None,
            Field(
                description="0..1; leave empty to compute it from category and wording.",
                json_schema_extra={"minimum": 0, "maximum": 1},
            ),
        ] = None,
        retention: Annotated[
            str | None,
            _enum(Retention, "How long to keep it; leave empty to derive from importance."),
        ] = None,
        created_at: Annotated[
            str | None,
            Field(
                description="ISO-8601 time the remembered thing happened, if not now (e.g. "
                "'2024-05-08T13:56:00Z'); not in the future."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, AddResult]:
        """Remember something for later conversations. An exact duplicate in the same scope is
        not stored twice: the reply's duplicate_of names the memory that already holds it."""
        result = await _run(
            ctx,
            _service(ctx).add,
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

    @mcp.tool(annotations=read_only)
    async def search_memory(
        ctx: Context,
        query: Annotated[str, Field(description="What to recall, in natural language.")],
        user_id: UserId = None,
        agent_id: AgentId = None,
        session_id: SessionId = None,
        memory_type: Annotated[str | None, _enum(MemoryType, "Only this type.")] = None,
        category: Annotated[str | None, _enum(Category, "Only this category.")] = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="Only memories whose metadata has these exact key/value pairs."),
        ] = None,
        since: Annotated[
            str | None, Field(description="Only memories created at or after this ISO-8601 time.")
        ] = None,
        until: Annotated[
            str | None, Field(description="Only memories created at or before this ISO-8601 time.")
        ] = None,
        limit: Annotated[
            int,
            Field(
                description="How many results, 1..100.",
                json_schema_extra={"minimum": 1, "maximum": 100},
            ),
        ] = 10,
        min_score: Annotated[
            float | None, Field(description="Drop results scoring below this.")
        ] = None,
        include_archived: Annotated[
            bool, Field(description="Also search archived (aged-out) memories.")
        ] = False,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Find the memories that best answer a question, best first. Scope arguments filter:
        user_id alone spans all of that user's agents and sessions."""
        result = await _run(
            ctx,
            _service(ctx).search,
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

    @mcp.tool(annotations=read_only)
    async def get_memory(
        ctx: Context, id: Annotated[str, Field(description="The memory's id.")]
    ) -> Annotated[CallToolResult, MemoryResult]:
        """Read one memory by id, with its scores and lifecycle state."""
        result = await _run(ctx, _service(ctx).get, id)
        return _reply(result, _line(result.memory))

    @mcp.tool(annotations=read_only)
    async def list_memories(
        ctx: Context,
        user_id: UserId = None,
        agent_id: AgentId = None,
        session_id: SessionId = None,
        memory_type: Annotated[str | None, _enum(MemoryType, "Only this type.")] = None,
        category: Annotated[str | None, _enum(Category, "Only this category.")] = None,
        stage: Annotated[
            str | None,
            _enum(Stage, "Only this lifecycle stage; archived memories are listed only this way."),
        ] = None,
        limit: Annotated[
            int,
            Field(
                description="Page size, 1..100.", json_schema_extra={"minimum": 1, "maximum": 100}
            ),
        ] = 20,
        offset: Annotated[int, Field(description="How many to skip, for paging.")] = 0,
        order: Annotated[
            str,
            _enum(
                ListOrder, "Newest created/updated, most important or most recently accessed first."
            ),
        ] = ListOrder.created.value,
    ) -> Annotated[CallToolResult, ListResult]:
        """Browse stored memories page by page, with the total that match."""
        result = await _run(
            ctx,
            _service(ctx).list,
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

    @mcp.tool(annotations=writes)
    async def update_memory(
        ctx: Context,
        id: Annotated[str, Field(description="The memory's id.")],
        content: Annotated[str | None, Field(description="New text.")] = None,
        metadata: Annotated[
            dict[str, Any] | None, Field(description="New metadata (replaces the old object).")
        ] = None,
        importance: Annotated[
            float | None,
            Field(
                description="New importance, 0..1.", json_schema_extra={"minimum": 0, "maximum": 1}
            ),
        ] = None,
        memory_type: Annotated[str | None, _enum(MemoryType, "New type.")] = None,
        category: Annotated[str | None, _enum(Category, "New category.")] = None,
        lifecycle_stage: Annotated[
            str | None, _enum(Stage, "'active' restores an archived memory.")
        ] = None,
    ) -> Annotated[CallToolResult, MemoryResult]:
        """Correct or refine a memory. The previous version stays in its history."""
        result = await _run(
            ctx,
            _service(ctx).update,
            id,
            content=content,
            metadata=metadata,
            importance=importance,
            memory_type=memory_type,
            category=category,
            lifecycle_stage=lifecycle_stage,
        )
        return _reply(
            result,
            f"Updated (version {result.memory.version}): {_line(result.memory)}"
            + _redacted_note(result.redacted),
        )

    @mcp.tool(annotations=ToolAnnotations(destructiveHint=True, openWorldHint=False))
    async def delete_memory(
        ctx: Context, id: Annotated[str, Field(description="The memory's id.")]
    ) -> Annotated[CallToolResult, DeleteResult]:
        """Forget a memory: it leaves search and lists; its history keeps a DELETE event."""
        result = await _run(ctx, _service(ctx).delete, id)
        return _reply(result, f"Deleted memory {result.id}.")

    @mcp.tool(annotations=read_only)
    async def memory_history(
        ctx: Context, id: Annotated[str, Field(description="The memory's id.")]
    ) -> Annotated[CallToolResult, HistoryResult]:
        """Every change to a memory, oldest first (ADD, UPDATE, MERGE, ARCHIVE, RESTORE, DELETE),
        each with the text, metadata and importance it had after that event."""
        result = await _run(ctx, _service(ctx).history, id)
        lines = [f"{e.at.isoformat()} {e.event.value}: {e.content}" for e in result.events]
        return _reply(result, "\n".join(lines))

    @mcp.tool(annotations=ToolAnnotations(destructiveHint=True, openWorldHint=False))
    async def consolidate(
        ctx: Context,
        user_id: UserId = None,
        agent_id: AgentId = None,
        session_id: SessionId = None,
        dry_run: Annotated[
            bool, Field(description="Only report what would change; change nothing.")
        ] = False,
        undo: Annotated[
            str | None,
            Field(description="A run_id from an earlier consolidate: put back what it changed."),
        ] = None,
    ) -> Annotated[CallToolResult, ConsolidateResult]:
        """Tidy memory within each scope: merge duplicates and redundant texts, boost often-used
        memories, decay old ones, move lifecycle stages, archive aged-out or excess memories and
        delete long-archived unimportant ones. Every run is journaled and can be undone with
        undo=run_id. Use dry_run first to see the actions."""
        result = await _run(
            ctx,
            _service(ctx).consolidate,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            dry_run=dry_run,
            undo=undo,
        )
        return _reply(result, consolidate_summary(result))

    @mcp.tool(annotations=read_only)
    async def stats(
        ctx: Context, user_id: UserId = None, agent_id: AgentId = None, session_id: SessionId = None
    ) -> Annotated[CallToolResult, StatsResult]:
        """Counts of stored memories by user, type, category, stage and retention, their age,
        average importance and the state of the index."""
        result = await _run(
            ctx, _service(ctx).stats, user_id=user_id, agent_id=agent_id, session_id=session_id
        )
        return _reply(
            result,
            f"{result.total_memories} memories, {result.vectors_indexed} vectors indexed, "
            f"{result.pending_index} pending; average importance {result.average_importance}.",
        )


CORE_TOOLS = ("add_memory", "search_memory", "consolidate", "stats")


def _compact_output_schemas(mcp: MCPServer) -> None:
    """Publish every tool's output schema in its compact form (``compact_schema``)."""
    for tool in mcp._tool_manager.list_tools():
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = compact_schema(tool.fn_metadata.output_schema)


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same JSON schema without indirection: each ``$ref`` replaced by its definition, and
    a nullable field's ``anyOf`` of bare types written as one list of types.

    A client checks every result against the tool's output schema; the Python SDK's check of a
    search result took 1.9 ms through pydantic's ``$ref``s and ``anyOf``s and 1.1 ms through
    this. The models are not recursive, so every reference can be inlined."""
    definitions = schema.get("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = definitions[node["$ref"].removeprefix("#/$defs/")]
            return inline({**target, **{k: v for k, v in node.items() if k != "$ref"}})
        out = {key: inline(value) for key, value in node.items() if key != "$defs"}
        branches = out.get("anyOf")
        if branches and all(b.keys() == {"type"} and isinstance(b["type"], str) for b in branches):
            del out["anyOf"]
            out["type"] = [b["type"] for b in branches]
        return out

    return inline(schema)


def _apply_tool_profile(mcp: MCPServer, profile: str) -> None:
    """``core`` keeps the four tools an agent needs most: every tool listed costs its context."""
    if profile == "full":
        return
    if profile != "core":
        raise ValueError(f"unknown tool profile {profile!r}: use 'full' or 'core'")
    for tool in mcp._tool_manager.list_tools():
        if tool.name not in CORE_TOOLS:
            mcp.remove_tool(tool.name)


def _register_resources(mcp: MCPServer) -> None:
    """Read-only views a client can attach to a conversation without a tool call.

    Both are URI templates so that the handler gets the request context: reads go through
    ``_service(ctx)`` and so stay confined to the caller's token grant, like tool calls.
    ``memory://stats`` matches the stats template with no scope given.
    """

    @mcp.resource(
        "memory://stats{?user_id,agent_id,session_id}",
        name="memory-stats",
        title="Memory statistics",
        description="What is stored (optionally within ?user_id=...&agent_id=...&session_id=...): "
        "counts by user, type, category, stage and retention, ages, average importance and the "
        "index state (the stats tool's reply, as JSON). Read memory://stats for everything.",
        mime_type="application/json",
    )
    async def stats_resource(
        ctx: Context,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
    ) -> str:
        svc = _service(ctx)
        result = await _resource_call(
            ctx, partial(svc.stats, user_id=user_id, agent_id=agent_id, session_id=session_id)
        )
        return result.model_dump_json(indent=2)

    @mcp.resource(
        "memory://memories/{id}",
        name="memory",
        title="One memory",
        description="A stored memory by id, with its scopes, scores and lifecycle state, as "
        "JSON (reading it counts as an access, like get_memory).",
        mime_type="application/json",
    )
    async def memory_resource(id: str, ctx: Context) -> str:
        result = await _resource_call(ctx, _service(ctx).get, id)
        return result.memory.model_dump_json(indent=2)


async def _resource_call(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking read for a resource in a worker thread, counted as activity like a
    tool call; core errors become resource errors."""
    try:
        with ctx.request_context.lifespan_context.activity.running():
            return await anyio.to_thread.run_sync(partial(fn, *args))
    except MemoryNotFound as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except MemoryServiceError as exc:
        raise ResourceError(str(exc)) from exc


MEMORY_GUIDE = """You have a long-term memory that persists across conversations (tools: add_memory,
search_memory, and in the full profile get/list/update/delete_memory and memory_history).
{who}
When to search (search_memory):
- At the start of a task or conversation, and before answering anything about the user, their
  preferences, people, projects, decisions or earlier conversations. Search with a natural
  question ("what editor does she use?"), not a keyword list.
- Before adding, to avoid storing what is already known; update_memory corrects a memory that
  is out of date instead of adding a contradicting one.

When to add (add_memory):
- Durable facts, preferences, decisions, commitments and notable events; things the user would
  be annoyed to repeat. Not small talk, not what is only true for the next minute, not secrets
  such as passwords or keys.
- One self-contained statement per memory, understandable out of context: "Dana prefers
  window seats on long flights", not "she likes that".
- category: preference, fact, experience, relationship, skill or general; memory_type:
  semantic (facts, preferences), episodic (events; pass created_at when it happened earlier)
  or procedural (how to do something).
- importance (0..1) only when you know better than the default; "always"/"never"/"prefer"
  wording already raises it.

Scopes:
- user_id: the person the memory is about or belongs to. Always pass it when you know who the
  user is, so their memories never mix with another's.
- agent_id: this app or agent, for what only matters to it (e.g. a coding agent's notes on a
  repository).
- session_id: one conversation or task, for context that should stay together.
- Filters work the same way: user_id alone searches all of that user's agents and sessions.

Housekeeping: call consolidate (dry_run first) now and then to merge duplicates; stats shows
what is stored."""


def _register_prompts(mcp: MCPServer) -> None:
    """A prompt a person can pick in their client to brief the agent on using its memory."""

    @mcp.prompt(
        name="use_memory",
        title="How to use long-term memory",
        description="Guidance for the agent: when to search, what to add, how to set scopes.",
    )
    def use_memory(user_id: str | None = None) -> str:
        who = (
            f"The user is {user_id!r}: pass user_id={user_id!r} to every memory tool.\n"
            if user_id
            else ""
        )
        return MEMORY_GUIDE.format(who=who)


def check_network_security(settings: Settings) -> None:
    """Refuse a network server that anyone on the network could use: no token, not loopback."""
    cfg = settings.server
    if cfg.transport != "stdio" and not settings.security.tokens and not is_loopback(cfg.host):
        raise ConfigError(
            f"refusing to serve {cfg.transport} on {cfg.host} without a bearer token: anyone "
            "who can reach it could read and change every memory. Add a token to the config "
            '([[security.tokens]] with token = "<at least 16 characters>") or set '
            "MCP_MEMORY_SECURITY__TOKENS, or bind 127.0.0.1"
        )


def grants(security: SecuritySettings) -> list[tuple[str, Grant]]:
    """(secret, grant) for each configured token."""
    return [
        (
            t.token.get_secret_value(),
            Grant(
                name=t.name,
                user_id=None if t.user_id is None else frozenset(t.user_id),
                agent_id=None if t.agent_id is None else frozenset(t.agent_id),
            ),
        )
        for t in security.tokens
    ]


def transport_security(
    cfg: ServerSettings, security: SecuritySettings
) -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding: loopback names plus the configured ones.

    ``allowed_hosts = ["*"]`` turns the checks off; so does binding a non-loopback address with
    no allowed host configured (the required token then does the protecting).
    """
    hosts, origins = list(security.allowed_hosts), list(security.allowed_origins)
    if "*" in hosts or (not is_loopback(cfg.host) and not hosts):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts += ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins += ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def http_app(mcp: MCPServer, settings: Settings) -> Any:
    """The ASGI app of a network transport, behind the bearer-token check when tokens are set."""
    cfg, security = settings.server, settings.security
    options = dict(
        max_request_body_size=security.max_request_bytes,
        transport_security=transport_security(cfg, security),
        host=cfg.host,
    )
    app = mcp.sse_app(**options) if cfg.transport == "sse" else mcp.streamable_http_app(**options)
    return BearerAuth(app, grants(security)) if security.tokens else app


def warm_up_after_handshake(
    mcp: MCPServer, service: MemoryService, wait_s: float, activity: Activity
) -> threading.Thread:
    """Load the model once the client has listed the tools (or after ``wait_s`` seconds), then
    open the vector index and reconcile it at the first moment no tool call is running.

    Loading a model holds the GIL for stretches (seconds when torch is imported: the torch
    runtime, or the one-time ONNX conversion): started at spawn, it doubled the time to the
    tool list (benchmarks/perf.py). Opening Chroma on a large store holds it too (half a second
    at 100k memories), so it waits for a quiet moment (at most ``wait_s`` seconds, or one); a
    search over everything meanwhile scans the scoped copy (``MemoryService.defer_index_open``). A tool call that needs the model
    before the warm-up starts loads it itself.
    """
    listed = threading.Event()
    list_tools = mcp.list_tools

    async def list_tools_then_warm_up() -> Any:
        try:
            return await list_tools()
        finally:
            listed.set()

    mcp.list_tools = list_tools_then_warm_up  # type: ignore[method-assign]
    service.defer_index_open()

    def run() -> None:
        listed.wait(wait_s)
        try:
            service.embedder.embed_query("warm up")
            activity.wait_idle(timeout=max(wait_s, 1.0))  # under steady load, not forever
            service.reconcile()
        except Exception:
            logger.exception("warm-up failed; tool calls will report the cause")

    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def serve(settings: Settings, service: MemoryService) -> None:
    """Run the server on the configured transport until the client or a signal stops it."""
    check_network_security(settings)
    activity = Activity()
    mcp = create_server(service, tools=settings.server.tools, activity=activity)
    warm_up_after_handshake(mcp, service, settings.performance.warm_up_wait_s, activity)
    cfg = settings.server
    if cfg.transport == "stdio":
        run = mcp.run_stdio_async
    else:
        import uvicorn

        config = uvicorn.Config(
            http_app(mcp, settings),
            host=cfg.host,
            port=cfg.port,
            log_level=settings.log_level.lower(),
        )
        run = uvicorn.Server(config).serve
    anyio.run(with_schedule, settings, service, run)


def schedule_hours(settings: Settings) -> float:
    """Hours between background consolidation runs for this transport (0: none). Never in a
    stdio session unless ``consolidation.schedule.in_stdio`` allows it."""
    schedule = settings.consolidation.schedule
    if settings.server.transport == "stdio" and not schedule.in_stdio:
        return 0.0
    return schedule.every_hours


async def with_schedule(settings: Settings, service: MemoryService, run: Callable[[], Any]) -> None:
    """Serve with ``run``, consolidating every scope on the configured schedule meanwhile."""
    every = schedule_hours(settings) * 3600

    def job() -> None:
        result = service.consolidate()
        logger.info("scheduled consolidation: %s", consolidate_summary(result))

    last = service.consolidator.last_run(Scope()) if every else None
    delay = schedule.first_delay(last.at if last else None, service.clock(), every)
    await schedule.alongside(run, job, every, delay)


def consolidate_summary(
    result: ConsolidateResult, undo_hint: str = "consolidate(undo='{}')"
) -> str:
    """One line saying what a consolidate call did (or would do, or undid)."""
    done = not result.dry_run
    counts = ", ".join(
        f"{past if done else present} {getattr(result, field)}{noun}"
        for field, present, past, noun in (
            ("duplicates_merged", "Would merge", "Merged", " duplicates"),
            ("redundancies_eliminated", "remove", "removed", " redundant"),
            ("importance_boosted", "boost", "boosted", ""),
            ("decayed", "decay", "decayed", ""),
            ("stages_updated", "move", "moved", " stages"),
            ("archived", "archive", "archived", ""),
            ("deleted", "delete", "deleted", ""),
        )
    )
    if result.undone:
        return f"Undid run {result.run_id}, which {counts[0].lower()}{counts[1:]}."
    if result.dry_run:
        return f"{counts} (dry run: nothing changed)."
    return f"{counts} (run {result.run_id}; undo with {undo_hint.format(result.run_id)})."

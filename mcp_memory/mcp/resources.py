"""Read-only views a client can attach to a conversation without a tool call.

Both are URI templates so that the handler gets the request context: reads go through
``service_for(ctx)`` and so stay confined to the caller's token grant, like tool calls.
``memory://stats`` matches the stats template with no scope given, and is also named in the
resource list (``STATS_LISTED``, added by the server's ``list_resources``), where clients that
attach resources look.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import Resource

from mcp_memory.mcp.calls import read, service_for

STATS_URI = "memory://stats"
STATS_DESCRIPTION = (
    "What is stored: counts by user, type, category, stage and retention, ages, average "
    "importance and the index state (the stats tool's reply, as JSON)."
)


async def stats_resource(
    ctx: Context,
    user_id: str | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
) -> str:
    svc = service_for(ctx)
    result = await read(ctx, svc.stats, user_id=user_id, agent_id=agent_id, session_id=session_id)
    return result.model_dump_json(indent=2)


async def memory_resource(id: str, ctx: Context) -> str:
    result = await read(ctx, service_for(ctx).get, id)
    return result.memory.model_dump_json(indent=2)


def register_resources(mcp: MCPServer) -> None:
    """Publish the stats and the single-memory views on ``mcp``."""
    mcp.resource(
        "memory://stats{?user_id,agent_id,session_id}",
        name="memory-stats",
        title="Memory statistics",
        description=STATS_DESCRIPTION
        + " Within a scope: ?user_id=...&agent_id=...&session_id=...; "
        "read memory://stats for everything.",
        mime_type="application/json",
    )(stats_resource)
    mcp.resource(
        "memory://memories/{id}",
        name="memory",
        title="One memory",
        description="A stored memory by id, with its scopes, scores and lifecycle state, as "
        "JSON (reading it counts as an access, like get_memory).",
        mime_type="application/json",
    )(memory_resource)


STATS_LISTED = Resource(
    uri=STATS_URI, name="memory-stats", title="Memory statistics",
    description=STATS_DESCRIPTION, mime_type="application/json",
)  # fmt: skip
"""``memory://stats`` as ``resources/list`` names it. Not a static resource: the SDK reads
those without the request context, so outside the caller's token grant; a read of it is
answered by the stats template."""

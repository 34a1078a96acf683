"""Read-only views a client can attach to a conversation without a tool call.

Both are URI templates so that the handler gets the request context: reads go through
``service_for(ctx)`` and so stay confined to the caller's token grant, like tool calls.
``memory://stats`` matches the stats template with no scope given.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

from mcp_memory.mcp.calls import read, service_for


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
        description="What is stored (optionally within ?user_id=...&agent_id=...&session_id=...): "
        "counts by user, type, category, stage and retention, ages, average importance and the "
        "index state (the stats tool's reply, as JSON). Read memory://stats for everything.",
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

"""The MCP server of one process: the contract's tools (all, or a profile's), resources and
prompt over one ``MemoryService``.

Thin by design: the tools (``tools.py``) parse, call the service in a worker thread and shape
the reply; core errors become tool errors once, in ``calls.py``. The service is built once per
process (by ``serve.py``) and shared by every connection: the SDK enters the MCP lifespan per
SSE connection, so the lifespan only hands out the one ``AppState``.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp_types import Resource

from mcp_memory import __version__
from mcp_memory.mcp.arguments import strict_arguments
from mcp_memory.mcp.calls import Activity, AppState
from mcp_memory.mcp.metered import count_tool_calls
from mcp_memory.mcp.profiles import profile_tools
from mcp_memory.mcp.prompts import register_prompts
from mcp_memory.mcp.resources import STATS_LISTED, register_resources
from mcp_memory.mcp.schema import compact_schema
from mcp_memory.mcp.tools import TOOLS
from mcp_memory.service import MemoryService

if TYPE_CHECKING:
    from mcp_memory.observe.metrics import Metrics

INSTRUCTIONS = """\
Long-term memory that persists across conversations. Search it (search_memory) before answering
questions about the user, their preferences, projects or earlier conversations. Store
(add_memory) durable facts, preferences, decisions and events worth recalling later: one
self-contained statement per memory, written so it makes sense out of context. Pass user_id
(and agent_id / session_id when useful) so memories stay with the person they belong to."""


class MemoryServer(MCPServer):
    """The SDK's server, with ``memory://stats`` named in ``resources/list`` beside the static
    resources (``resources.STATS_LISTED``)."""

    async def list_resources(self) -> list[Resource]:
        return [*await super().list_resources(), STATS_LISTED]


def create_server(
    service: MemoryService,
    tools: str = "full",
    activity: Activity | None = None,
    metrics: Metrics | None = None,
) -> MCPServer:
    """An MCPServer exposing the contract's tools (all, or the ``core`` profile), resources and
    prompt over the given service; ``activity`` counts its tool calls in progress, ``metrics``
    counts and times them."""
    state = AppState(service, activity or Activity())

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppState]:
        yield state

    mcp = MemoryServer(
        "mcp-memory",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        tools=[published_tool(name) for name in profile_tools(tools, list(TOOLS))],
    )
    register_resources(mcp)
    register_prompts(mcp)
    if metrics is not None:
        mcp.middleware.append(count_tool_calls(metrics, TOOLS))
    return mcp


def published_tool(name: str) -> Tool:
    """The tool ``name`` as the server publishes it: its docstring, without the source's
    indentation, as description; arguments it does not take refused (``strict_arguments``),
    as its input schema says; its output schema in compact form (``schema.py``)."""
    fn, annotations = TOOLS[name]
    tool = Tool.from_function(
        fn, description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations
    )
    built = tool.fn_metadata
    arguments = strict_arguments(built.arg_model)
    metadata = FuncMetadata(
        arg_model=arguments,
        output_model=built.output_model,
        output_schema=built.output_schema and compact_schema(built.output_schema),
        wrap_output=built.wrap_output,
    )
    return tool.model_copy(
        update={"parameters": arguments.model_json_schema(by_alias=True), "fn_metadata": metadata}
    )

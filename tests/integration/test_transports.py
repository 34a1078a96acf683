"""`mcp-memory serve` in a subprocess, driven by the SDK's stdio, SSE and streamable-HTTP clients."""

from __future__ import annotations

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.integration.conftest import server_command, server_env
from tests.integration.scenario import exercise_every_tool, refuse_bad_input

pytestmark = pytest.mark.anyio


def stdio_params(data_dir) -> StdioServerParameters:
    command, *args = server_command()
    return StdioServerParameters(command=command, args=[*args, "serve"], env=server_env(data_dir))


async def test_stdio_every_tool_and_bad_input(tmp_path):
    async with Client(stdio_params(tmp_path)) as client:
        await exercise_every_tool(client, "dana")
        await refuse_bad_input(client, "erin")


async def test_stdio_lists_the_tools_then_answers_the_first_search(tmp_path):
    """A spawned server lists the tools and answers a search on a fresh store. That the
    handshake and the list come before the model loads is held in process, without a clock
    (tests/mcp/test_server.py: the warm-up starts once the client has listed the tools); how
    soon is measured by benchmarks/first_use.py, not asserted here."""
    async with Client(stdio_params(tmp_path)) as client:
        tools = await client.list_tools()
        result = await client.call_tool("search_memory", {"query": "anything"})
        assert not result.is_error and result.structured_content["results"] == []
    assert len(tools.tools) == 9


async def test_stdio_memories_persist_across_restart(tmp_path):
    async with Client(stdio_params(tmp_path)) as client:
        added = await client.call_tool(
            "add_memory", {"content": "The boiler was serviced in March", "user_id": "kim"}
        )
        memory_id = added.structured_content["id"]
    async with Client(stdio_params(tmp_path)) as client:
        found = await client.call_tool(
            "search_memory", {"query": "When was the heating maintained?", "user_id": "kim"}
        )
        assert found.structured_content["results"][0]["id"] == memory_id
        other = await client.call_tool(
            "search_memory", {"query": "boiler", "user_id": "someone-else"}
        )
        assert other.structured_content["results"] == []


async def test_sse_every_tool_and_bad_input(sse_server):
    async with sse_server.client() as client:
        await exercise_every_tool(client, "dana")
        await refuse_bad_input(client, "erin")


async def test_http_every_tool_and_bad_input(http_server):
    async with http_server.client() as client:
        await exercise_every_tool(client, "dana")
        await refuse_bad_input(client, "erin")


async def test_http_clients_share_one_store(http_server):
    async with http_server.client() as writer:
        added = await writer.call_tool(
            "add_memory", {"content": "Standup moved to 9:30", "user_id": "team"}
        )
    async with http_server.client() as reader:
        found = await reader.call_tool(
            "search_memory", {"query": "when is standup", "user_id": "team"}
        )
    assert found.structured_content["results"][0]["id"] == added.structured_content["id"]

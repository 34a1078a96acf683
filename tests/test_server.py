"""The MCP layer through an in-process MCP client: tools, schemas, errors."""

import pytest
from mcp.client import Client

from mcp_memory.server import create_server
from tests.integration.scenario import exercise_every_tool, refuse_bad_input


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_every_tool_in_process(service):
    async with Client(create_server(service)) as client:
        await exercise_every_tool(client, "dana")


@pytest.mark.anyio
async def test_bad_input_is_a_clear_tool_error_in_process(service):
    async with Client(create_server(service)) as client:
        await refuse_bad_input(client, "erin")


@pytest.mark.anyio
async def test_tool_schemas_are_written_for_agents(service):
    async with Client(create_server(service)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    add = tools["add_memory"].input_schema["properties"]
    assert add["content"]["description"]
    assert set(add["memory_type"]["enum"]) == {"episodic", "semantic", "procedural"}
    assert add["importance"]["minimum"] == 0 and add["importance"]["maximum"] == 1
    assert tools["search_memory"].input_schema["required"] == ["query"]
    assert tools["search_memory"].annotations.read_only_hint is True
    assert tools["delete_memory"].annotations.destructive_hint is True

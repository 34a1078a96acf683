"""Arguments a tool does not take are refused, not ignored (issue 20, item 3).

A misspelt scope (``userid``) silently dropped stored the memory in the global scope; a boolean
passed for a number was read as 1. Both now come back as a tool error naming the argument.
"""

from __future__ import annotations

import pytest
from mcp.client import Client

from mcp_memory.mcp.app import create_server
from tests.integration.scenario import CONTRACT_TOOLS


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def refused(client: Client, tool: str, arguments: dict) -> str:
    """The text of the tool error that ``tool`` answers with."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, (tool, arguments, result.structured_content)
    return result.content[0].text


async def stored(client: Client) -> int:
    return (await client.call_tool("stats", {})).structured_content["total_memories"]


@pytest.mark.anyio
async def test_a_misspelt_argument_to_add_memory_stores_nothing_and_names_the_right_one(service):
    async with Client(create_server(service)) as client:
        text = await refused(
            client, "add_memory", {"content": "Carol drinks green tea", "userid": "carol"}
        )
        assert "unknown argument 'userid': did you mean 'user_id'?" in text
        assert "Traceback" not in text
        assert await stored(client) == 0


@pytest.mark.anyio
async def test_a_misspelt_argument_to_search_memory_is_refused(service):
    service.add("Carol drinks green tea", user_id="carol")
    async with Client(create_server(service)) as client:
        text = await refused(client, "search_memory", {"query": "tea", "usr_id": "carol"})
        assert "unknown argument 'usr_id': did you mean 'user_id'?" in text
        text = await refused(client, "search_memory", {"query": "tea", "limits": 3})
        assert "unknown argument 'limits': did you mean 'limit'?" in text
        assert await stored(client) == 1


@pytest.mark.anyio
async def test_an_argument_like_none_other_is_refused_with_the_list_of_arguments(service):
    async with Client(create_server(service)) as client:
        text = await refused(client, "stats", {"colour": "blue"})
    assert "unknown argument 'colour'" in text
    assert "user_id, agent_id, session_id" in text


@pytest.mark.anyio
async def test_every_published_input_schema_forbids_other_arguments(service):
    async with Client(create_server(service)) as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == CONTRACT_TOOLS
    for tool in tools:
        assert tool.input_schema.get("additionalProperties") is False, tool.name


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "arguments", "name"),
    [
        ("add_memory", {"content": "Carol drinks green tea", "importance": True}, "importance"),
        ("search_memory", {"query": "tea", "limit": True}, "limit"),
        ("list_memories", {"limit": True}, "limit"),
        ("list_memories", {"offset": False}, "offset"),
        ("search_memory", {"query": "tea", "min_score": False}, "min_score"),
    ],
)
async def test_booleans_are_not_numbers(service, tool, arguments, name):
    async with Client(create_server(service)) as client:
        text = await refused(client, tool, arguments)
        assert f"argument '{name}' must be a number, not true or false" in text
        assert await stored(client) == 0


@pytest.mark.anyio
async def test_update_memory_refuses_a_boolean_importance_and_keeps_the_memory(service):
    memory = service.add("Carol drinks green tea", user_id="carol").memory
    async with Client(create_server(service)) as client:
        text = await refused(client, "update_memory", {"id": memory.id, "importance": True})
    assert "argument 'importance' must be a number" in text
    assert service.get(memory.id).memory.importance_score == memory.importance_score


@pytest.mark.anyio
async def test_numbers_and_known_arguments_are_still_accepted(service):
    async with Client(create_server(service)) as client:
        added = await client.call_tool(
            "add_memory", {"content": "Carol drinks green tea", "user_id": "carol", "importance": 1}
        )
        assert not added.is_error, added.content[0].text
        found = await client.call_tool("search_memory", {"query": "tea", "limit": 5})
        assert not found.is_error and len(found.structured_content["results"]) == 1

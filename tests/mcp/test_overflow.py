"""Numbers too large for a store's 64-bit integers are refused naming the argument, through
MCP and the service alike, instead of failing deep in SQLite ("Error executing tool")."""

from __future__ import annotations

import pytest
from mcp.client import Client

from mcp_memory.errors import InvalidInput
from mcp_memory.mcp.app import create_server

HUGE = 2**63


@pytest.fixture
def anyio_backend():
    return "asyncio"


def test_the_service_refuses_numbers_beyond_64_bits(service):
    with pytest.raises(InvalidInput, match=r"offset must be between 0 and 9223372036854775807"):
        service.list(offset=HUGE)
    assert service.list(offset=HUGE - 1).memories == []  # the largest offset is fine
    with pytest.raises(InvalidInput, match=r"metadata value under 'n' .* give it as a string"):
        service.search("anything", metadata={"n": HUGE})
    with pytest.raises(InvalidInput, match=r"metadata value under 'n'"):
        service.add("A number too big to keep", metadata={"n": -HUGE - 1})
    with pytest.raises(InvalidInput, match=r"a number of 3322 bits"):
        service.list(offset=10**1000)  # named by its size, not by 1,000 digits


@pytest.mark.anyio
async def test_overflowing_arguments_are_tool_errors_naming_them(service):
    async with Client(create_server(service)) as client:
        listed = await client.call_tool("list_memories", {"offset": HUGE})
        searched = await client.call_tool(
            "search_memory", {"query": "anything", "metadata": {"n": HUGE}}
        )
    assert listed.is_error and "offset must be between 0 and" in listed.content[0].text
    assert searched.is_error and "metadata value under 'n'" in searched.content[0].text

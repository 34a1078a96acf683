"""The MCP layer through an in-process MCP client: tools, schemas, errors."""

import copy
import json
import threading

import anyio
import jsonschema
import pytest
from mcp.client import Client

from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.calls import Activity
from mcp_memory.mcp.schema import compact_schema
from mcp_memory.mcp.serve import warm_up_after_handshake
from mcp_memory.models import SearchResult
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


@pytest.mark.anyio
async def test_tool_calls_and_resource_reads_count_as_activity_while_they_run(service):
    activity = Activity()
    seen: list[bool] = []
    real = service.stats

    def stats(**scope):
        seen.append(activity.wait_idle(timeout=0))  # not idle: this call is running
        return real(**scope)

    service.stats = stats
    async with Client(create_server(service, activity=activity)) as client:
        await client.call_tool("stats", {})
        await client.read_resource("memory://stats")
    assert seen == [False, False] and activity.wait_idle(timeout=0)


def test_the_warm_up_opens_the_index_only_once_no_call_is_running(service):
    activity = Activity()
    mcp = create_server(service, activity=activity)
    waiting, reconciled = threading.Event(), threading.Event()
    released: list[bool] = []
    real_wait = activity.wait_idle

    def wait_idle(timeout=None):
        waiting.set()
        return real_wait(timeout=60)

    activity.wait_idle = wait_idle
    service.reconcile = lambda: (released.append(call_done.is_set()), reconciled.set())
    call_done = threading.Event()
    with activity.running():  # a tool call in progress
        warm_up_after_handshake(mcp, service, wait_s=0, activity=activity)
        assert waiting.wait(timeout=60)  # model loaded, now waiting for the call to end
        assert not reconciled.is_set()
        call_done.set()
    assert reconciled.wait(timeout=60) and released == [True]


@pytest.mark.anyio
async def test_output_schemas_are_compact_and_accept_what_the_tools_return(service):
    """No $ref to resolve and nullable fields as type lists (a client checks every result
    against them); they accept real results and refuse malformed ones as pydantic's did."""
    service.add("Kim keeps bees on the roof", user_id="kim", metadata={"hives": 2})
    server = create_server(service)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        found = await client.call_tool("search_memory", {"query": "bees", "user_id": "kim"})
    schema = tools["search_memory"].output_schema
    assert "$ref" not in json.dumps(schema) and "$defs" not in schema
    memory = schema["properties"]["results"]["items"]["properties"]["memory"]
    assert memory["properties"]["agent_id"]["type"] == ["string", "null"]
    original = SearchResult.model_json_schema()
    hit = found.structured_content
    broken = copy.deepcopy(hit)
    broken["results"][0]["memory"]["agent_id"] = 7
    del broken["results"][0]["memory"]["content"]
    for instance, valid in ((hit, True), (broken, False)):
        for variant in (schema, original):
            assert jsonschema.Draft202012Validator(variant).is_valid(instance) is valid
    assert compact_schema(original) == schema


@pytest.mark.anyio
async def test_the_warm_up_starts_once_the_client_has_listed_the_tools(service, monkeypatch):
    """The handshake alone does not start it; the first tools/list does (long before wait_s)."""
    started = threading.Event()
    embed_query = service.embedder.embed_query

    def first_embedding(text):
        started.set()
        return embed_query(text)

    monkeypatch.setattr(service.embedder, "embed_query", first_embedding)
    activity = Activity()
    mcp = create_server(service, activity=activity)
    warm_up_after_handshake(mcp, service, wait_s=600, activity=activity)
    async with Client(mcp) as client:
        assert not started.is_set()
        await client.list_tools()
        assert await anyio.to_thread.run_sync(started.wait, 60)

"""Real servers under attack and under load: tokens, scopes, Host/Origin, size limits, fifty
concurrent HTTP clients, and four stdio servers sharing one data directory."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.integration.conftest import (
    ADMIN,
    ALICE,
    NetworkServer,
    post_bytes,
    server_command,
    server_env,
)

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def client(server: NetworkServer, token: str) -> AsyncIterator[Client]:
    """An MCP client sending this bearer token (its HTTP client is closed with it)."""
    async with (
        create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}) as http,
        Client(streamable_http_client(f"{server.base}/mcp", http_client=http)) as connected,
    ):
        yield connected


def raw_post(server: NetworkServer, headers: dict[str, str], body: bytes = b"") -> tuple:
    """(status, headers, body) of one POST to /mcp, without any MCP client."""
    payload = (
        body
        or json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "add_memory", "arguments": {"content": "intruder was here"}},
            }
        ).encode()
    )
    return post_bytes(f"{server.base}/mcp", headers, payload)


def declared_post(server: NetworkServer, headers: dict[str, str], size: int) -> int:
    """Status of a POST to /mcp declaring a body of ``size`` bytes, sent only once the server
    asks for it (``Expect: 100-continue``). A server that refuses by the declared size answers
    at once; sending the body regardless raced with that answer (a broken pipe when the server
    closed first)."""
    url = urllib.parse.urlsplit(server.base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", "/mcp")
        for name, value in {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "Content-Length": str(size),
            "Expect": "100-continue",
            **headers,
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


async def test_missing_or_wrong_token_gets_401_and_nothing_else(secure_server):
    for headers in ({}, {"Authorization": "Bearer not-the-token-at-all"}, {"Authorization": ADMIN}):
        status, response_headers, body = raw_post(secure_server, headers)
        assert status == 401 and body == b""
        assert response_headers["www-authenticate"].startswith("Bearer")
    async with client(secure_server, ADMIN) as admin:
        listed = await admin.call_tool("list_memories", {})
    assert "intruder" not in json.dumps(listed.structured_content)


async def test_host_origin_and_size_are_checked_after_the_token(secure_server):
    auth = {"Authorization": f"Bearer {ADMIN}"}
    assert raw_post(secure_server, {**auth, "Host": "evil.example:80"})[0] == 421
    assert raw_post(secure_server, {**auth, "Origin": "http://evil.example"})[0] == 403
    assert declared_post(secure_server, auth, 1_100_000) == 413


async def test_a_token_bound_to_alice_cannot_reach_bob(secure_server):
    async with client(secure_server, ADMIN) as admin, client(secure_server, ALICE) as alice:
        bob = await admin.call_tool(
            "add_memory", {"content": "Bob's safe combination is 12-34-56", "user_id": "bob"}
        )
        bob_id = bob.structured_content["id"]
        own = await alice.call_tool("add_memory", {"content": "Alice waters the ferns on Sunday"})
        assert own.structured_content["memory"]["user_id"] == "alice"
        refused = await alice.call_tool("search_memory", {"query": "safe", "user_id": "bob"})
        assert refused.is_error and "may not use user_id 'bob'" in refused.content[0].text
        wrote = await alice.call_tool("add_memory", {"content": "x y z", "user_id": "bob"})
        assert wrote.is_error
        found = await alice.call_tool("search_memory", {"query": "safe combination", "limit": 50})
        assert bob_id not in json.dumps(found.structured_content)
        for tool, args in [
            ("get_memory", {"id": bob_id}),
            ("update_memory", {"id": bob_id, "content": "hijacked"}),
            ("delete_memory", {"id": bob_id}),
            ("memory_history", {"id": bob_id}),
        ]:
            result = await alice.call_tool(tool, args)
            assert result.is_error and "not found" in result.content[0].text, tool
        still = await admin.call_tool("get_memory", {"id": bob_id})
    assert still.structured_content["memory"]["content"] == "Bob's safe combination is 12-34-56"


async def test_fifty_concurrent_http_clients_lose_nothing(secure_server):
    errors: list[str] = []

    async def one(i: int) -> None:
        user = f"crowd-{i}"
        async with client(secure_server, ADMIN) as c:
            calls = [
                (
                    "add_memory",
                    {"content": f"Crowd member {i} parks in bay {i * 7}", "user_id": user},
                ),
                ("search_memory", {"query": f"where does member {i} park", "user_id": user}),
                ("list_memories", {"user_id": user}),
                ("stats", {"user_id": user}),
            ]
            added = None
            for tool, args in calls:
                result = await c.call_tool(tool, args)
                if result.is_error:
                    errors.append(f"{tool}: {result.content[0].text}")
                added = added or result.structured_content.get("id")
            for tool, args in [
                ("get_memory", {"id": added}),
                ("update_memory", {"id": added, "content": f"Crowd member {i} moved to bay {i}"}),
                ("memory_history", {"id": added}),
            ]:
                result = await c.call_tool(tool, args)
                if result.is_error:
                    errors.append(f"{tool}: {result.content[0].text}")

    async with anyio.create_task_group() as group:
        for i in range(50):
            group.start_soon(one, i)
    assert errors == []
    async with client(secure_server, ADMIN) as admin:
        stats = (await admin.call_tool("stats", {})).structured_content
        for i in (0, 17, 49):
            page = await admin.call_tool("list_memories", {"user_id": f"crowd-{i}"})
            (memory,) = page.structured_content["memories"]
            assert memory["content"] == f"Crowd member {i} moved to bay {i}"
    crowd = {k: v for k, v in stats["by_user"].items() if k.startswith("crowd-")}
    assert len(crowd) == 50 and set(crowd.values()) == {1}
    assert stats["index_in_sync"] and stats["pending_index"] == 0


@pytest.mark.parametrize("engine", ["chroma", "qdrant"])
async def test_four_stdio_servers_on_one_data_dir(tmp_path, engine):
    """Embedded Qdrant opens a shard in one process at a time: the four take turns at it."""
    command, *args = server_command()
    env = {**server_env(tmp_path), "MCP_MEMORY_VECTOR__BACKEND": engine}
    params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
    per_server = 5
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(params)) for _ in range(4)]
        added: dict[str, tuple[int, str]] = {}

        async def fill(n: int, c: Client) -> None:
            for k in range(per_server):
                text = f"Server {n} wrote note {k} about the {['oak', 'elm', 'ash', 'yew'][n]} tree"
                result = await c.call_tool("add_memory", {"content": text, "user_id": "shared"})
                assert not result.is_error, result.content
                added[result.structured_content["id"]] = (n, text)

        async with anyio.create_task_group() as group:
            for n, c in enumerate(clients):
                group.start_soon(fill, n, c)
        for n, c in enumerate(clients):
            for memory_id, (writer, text) in added.items():
                if writer == n:
                    continue
                found = await c.call_tool(
                    "search_memory", {"query": text, "user_id": "shared", "limit": 3}
                )
                assert found.structured_content["results"][0]["id"] == memory_id, (n, text)
        listed = await clients[0].call_tool("list_memories", {"user_id": "shared", "limit": 100})
        stats = await clients[3].call_tool("stats", {})
    memories = listed.structured_content["memories"]
    assert len(added) == 4 * per_server
    assert sorted(m["id"] for m in memories) == sorted(added)
    assert len({m["content"] for m in memories}) == 4 * per_server
    assert stats.structured_content["index_in_sync"]

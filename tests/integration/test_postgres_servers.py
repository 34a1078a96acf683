"""Real `mcp-memory serve` processes on one PostgreSQL database: three servers adding, updating
and deleting at once; a server killed (SIGKILL) in the middle of writes; the database stopped
and started again under a running server."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack, suppress

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import PG_PASSWORD
from tests.engines import fresh_schema
from tests.integration.conftest import (
    NetworkServer,
    server_command,
    server_env,
    start_network_server,
)
from tests.postgres_server import PostgresServer, running_postgres

pytestmark = pytest.mark.anyio
CALL_DEADLINE_S = 60


def postgres_env(dsn: str, schema: str, **extra: str) -> dict[str, str]:
    return {
        "MCP_MEMORY_STORAGE__BACKEND": "postgres",
        "MCP_MEMORY_STORAGE__DSN": dsn,
        "MCP_MEMORY_STORAGE__SCHEMA": schema,
        **extra,
    }


async def call(client: Client, tool: str, arguments: dict) -> dict:
    with anyio.fail_after(CALL_DEADLINE_S):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_three_servers_on_one_database_add_update_and_delete_at_once(tmp_path, postgres_dsn):
    command, *args = server_command()
    env = {**server_env(tmp_path / "data"), **postgres_env(postgres_dsn, fresh_schema())}
    params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
    trees = ["oak", "elm", "ash"]
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(params)) for _ in range(3)]
        added: dict[str, tuple[int, str]] = {}
        same: list[str] = []

        async def work(n: int, client: Client) -> None:
            mine = []
            for k in range(6):
                text = f"Server {n} wrote note {k} about the {trees[n]} tree"
                found = await call(client, "add_memory", {"content": text, "user_id": "shared"})
                added[found["id"]] = (n, text)
                mine.append(found["id"])
            shared = "Every server agrees: the meeting is on Friday"
            found = await call(client, "add_memory", {"content": shared, "user_id": "shared"})
            same.append(found["id"])
            text = f"Server {n} revised its first note: the {trees[n]} tree was felled"
            await call(client, "update_memory", {"id": mine[0], "content": text})
            added[mine[0]] = (n, text)
            await call(client, "delete_memory", {"id": mine[1]})
            del added[mine[1]]

        async with anyio.create_task_group() as group:
            for n, client in enumerate(clients):
                group.start_soon(work, n, client)
        for n, client in enumerate(clients):
            for memory_id, (writer, text) in added.items():
                if writer != n:
                    found = await call(
                        client, "search_memory", {"query": text, "user_id": "shared", "limit": 3}
                    )
                    assert found["results"][0]["id"] == memory_id, (n, text)
        listed = await call(clients[0], "list_memories", {"user_id": "shared", "limit": 100})
        stats = await call(clients[2], "stats", {})
    assert len(set(same)) == 1, "the same text added by three servers is stored once"
    ids = [m["id"] for m in listed["memories"]]
    assert sorted(ids) == sorted([*added, same[0]])  # every memory once, the deleted gone
    assert stats["index_in_sync"] and stats["vectors_indexed"] == len(ids)


@pytest.fixture
def schema_env(postgres_dsn) -> Iterator[dict[str, str]]:
    yield postgres_env(postgres_dsn, fresh_schema())


async def test_every_write_acknowledged_before_a_sigkill_is_there_after_a_restart(
    tmp_path, schema_env
):
    server = start_network_server("http", tmp_path / "data", env=schema_env)
    acknowledged: dict[str, str] = {}
    try:
        with suppress(Exception):  # leaving the client of a killed server may raise: the point
            await _write_until_killed(server, acknowledged)
    finally:
        server.stop()
    assert len(acknowledged) >= 24
    restarted = start_network_server("http", tmp_path / "data", env=schema_env)
    try:
        async with restarted.client() as client:
            for memory_id, text in acknowledged.items():
                got = await call(client, "get_memory", {"id": memory_id})
                assert got["memory"]["content"] == text
            probe = next(iter(acknowledged.items()))
            found = await call(client, "search_memory", {"query": probe[1], "user_id": "u"})
            assert found["results"][0]["id"] == probe[0]
            stats = await call(client, "stats", {})
            assert stats["index_in_sync"] and stats["total_memories"] >= len(acknowledged)
    finally:
        restarted.stop()


async def _write_until_killed(server: NetworkServer, acknowledged: dict[str, str]) -> None:
    """Four writers add memories through one client until the server is SIGKILLed, once two
    dozen adds were acknowledged; the writes in flight then fail."""
    async with server.client() as client:
        enough = anyio.Event()

        async def write(n: int) -> None:
            for k in range(1000):
                text = f"Writer {n} stored fact number {k} about the harbour"
                try:
                    found = await call(client, "add_memory", {"content": text, "user_id": "u"})
                except Exception:  # the server died under this call
                    return
                acknowledged[found["id"]] = text
                if len(acknowledged) >= 24:
                    enough.set()

        async with anyio.create_task_group() as group:
            for n in range(4):
                group.start_soon(write, n)
            await enough.wait()
            os.kill(server.process.pid, signal.SIGKILL)
            with anyio.fail_after(CALL_DEADLINE_S):
                await anyio.to_thread.run_sync(server.process.wait)
            group.cancel_scope.cancel()


async def test_a_database_restart_under_a_running_server_gives_clear_errors_then_recovers(
    tmp_path,
):
    with running_postgres() as database:
        env = postgres_env(
            database.dsn(PG_PASSWORD), fresh_schema(), MCP_MEMORY_STORAGE__TIMEOUT_S="2"
        )
        server = start_network_server("http", tmp_path / "data", env=env)
        try:
            async with server.client() as client:
                await _through_a_restart(client, database)
        finally:
            server.stop()
    logs = "".join(server.stderr_lines)
    assert PG_PASSWORD not in logs


async def _through_a_restart(client: Client, database: PostgresServer) -> None:
    acknowledged: dict[str, str] = {}
    errors: list[str] = []
    for k in range(3):
        text = f"Before the outage, fact {k}"
        acknowledged[
            (await call(client, "add_memory", {"content": text, "user_id": "u"}))["id"]
        ] = text
    await anyio.to_thread.run_sync(database.stop)
    for tool, arguments in (
        ("add_memory", {"content": "During the outage", "user_id": "u"}),
        ("search_memory", {"query": "fact", "user_id": "u"}),
        ("stats", {}),
    ):
        with anyio.fail_after(CALL_DEADLINE_S):
            result = await client.call_tool(tool, arguments)
        assert result.is_error, tool
        errors.append(result.content[0].text)
    await anyio.to_thread.run_sync(database.start)
    with anyio.fail_after(CALL_DEADLINE_S):
        while True:  # the first calls after the restart may still meet a dead connection
            result = await client.call_tool(
                "add_memory", {"content": "After the outage", "user_id": "u"}
            )
            if not result.is_error:
                acknowledged[result.structured_content["id"]] = "After the outage"
                break
            errors.append(result.content[0].text)
    for text in errors:
        assert f"PostgreSQL at 127.0.0.1:{database.port}" in text and "unavailable" in text, text
        assert PG_PASSWORD not in text
    listed = await call(client, "list_memories", {"user_id": "u", "limit": 100})
    stored = {m["id"]: m["content"] for m in listed["memories"]}
    assert acknowledged.items() <= stored.items()
    assert "During the outage" not in stored.values()
    found = await call(client, "search_memory", {"query": "before the outage fact", "user_id": "u"})
    assert {r["id"] for r in found["results"]} >= set(list(acknowledged)[:3])

"""The lifecycle through an in-process MCP client: memories recorded late enter active,
consolidation moves stages, archives and merges, stats report it, and an undo puts it back.
Also the consolidation schedule beside a server."""

from __future__ import annotations

from datetime import timedelta

import anyio
import jsonschema
import pytest
from mcp.client import Client

from mcp_memory.clock import to_iso
from mcp_memory.config import load_settings
from mcp_memory.consolidation import schedule
from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.serve import schedule_hours, with_schedule


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def call(client: Client, tool: str, **arguments) -> dict:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.anyio
async def test_consolidate_stats_and_undo_through_mcp(service, clock):
    def ago(days: float) -> str:
        return to_iso(clock() - timedelta(days=days))

    async with Client(create_server(service)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        schemas = {name: tool.output_schema for name, tool in tools.items()}
        assert tools["consolidate"].annotations.destructive_hint is True  # cleanup deletes
        assert "undo" in tools["consolidate"].input_schema["properties"]
        lisbon = await call(client, "add_memory", content="Moved to Lisbon in 2019",
                            category="fact", user_id="ann", created_at=ago(400))  # fmt: skip
        dog = await call(client, "add_memory", content="The user's dog is called Biscuit",
                         user_id="ann", created_at=ago(1))  # fmt: skip
        near = await call(client, "add_memory", content="The user's dog is named Biscuit",
                          user_id="ann")  # fmt: skip
        cook = await call(client, "add_memory", content="Enjoys cooking risotto on Fridays",
                          importance=0.6, user_id="ann", created_at=ago(20))  # fmt: skip
        listed = await call(client, "list_memories", user_id="ann")
        assert listed["total"] == 4
        assert {m["lifecycle_stage"] for m in listed["memories"]} == {"active"}

        dry = await call(client, "consolidate", user_id="ann", dry_run=True)
        run = await call(client, "consolidate", user_id="ann")
        jsonschema.validate(run, schemas["consolidate"])
        assert dry["actions"] == run["actions"] and dry["dry_run"] and not run["dry_run"]
        assert (run["duplicates_merged"], run["decayed"], run["archived"]) == (1, 1, 1)
        assert run["stages_updated"] == 1

        archived = await call(client, "list_memories", user_id="ann", stage="archived")
        assert [m["id"] for m in archived["memories"]] == [lisbon["id"]]
        found = await call(client, "search_memory", query="where does she live", user_id="ann")
        assert lisbon["id"] not in {h["id"] for h in found["results"]}
        found = await call(client, "search_memory", query="where does she live", user_id="ann",
                           include_archived=True)  # fmt: skip
        assert lisbon["id"] in {h["id"] for h in found["results"]}
        history = await call(client, "memory_history", id=near["id"])
        assert history["events"][-1]["details"]["merged_into"] == dog["id"]

        stats = await call(client, "stats", user_id="ann")
        jsonschema.validate(stats, schemas["stats"])
        assert stats["by_stage"] == {"active": 1, "aging": 1, "archived": 1}
        assert stats["last_consolidation"]["run_id"] == run["run_id"]
        assert stats["last_consolidation"]["counts"]["archived"] == 1

        undone = await call(client, "consolidate", undo=run["run_id"])
        assert undone["undone"] and undone["actions"] == run["actions"]
        listed = await call(client, "list_memories", user_id="ann")
        assert listed["total"] == 4
        assert {m["lifecycle_stage"] for m in listed["memories"]} == {"active"}
        restored = await call(client, "get_memory", id=lisbon["id"])
        assert restored["memory"]["importance_score"] == lisbon["memory"]["importance_score"]
        cooked = await call(client, "get_memory", id=cook["id"])
        assert cooked["memory"]["lifecycle_stage"] == "active"
        stats = await call(client, "stats", user_id="ann")
        assert stats["by_stage"] == {"active": 4}
        assert stats["last_consolidation"]["undone_at"] is not None

        again = await client.call_tool("consolidate", {"undo": run["run_id"]})
        assert again.is_error and "already undone" in again.content[0].text
        bogus = await client.call_tool("consolidate", {"undo": "no such run"})
        assert bogus.is_error and "run_id" in bogus.content[0].text


def test_schedule_is_off_by_default_and_never_in_stdio_unless_allowed(monkeypatch):
    assert schedule_hours(load_settings()) == 0
    monkeypatch.setenv("MCP_MEMORY_CONSOLIDATION__SCHEDULE__EVERY_HOURS", "6")
    assert schedule_hours(load_settings()) == 0  # stdio
    monkeypatch.setenv("MCP_MEMORY_SERVER__TRANSPORT", "http")
    assert schedule_hours(load_settings()) == 6
    monkeypatch.setenv("MCP_MEMORY_SERVER__TRANSPORT", "stdio")
    monkeypatch.setenv("MCP_MEMORY_CONSOLIDATION__SCHEDULE__IN_STDIO", "true")
    assert schedule_hours(load_settings()) == 6


def test_first_run_is_due_an_interval_after_the_last(clock):
    assert schedule.first_delay(None, clock(), 3600) == 3600
    assert schedule.first_delay(clock() - timedelta(minutes=30), clock(), 3600) == 1800
    assert schedule.first_delay(clock() - timedelta(hours=5), clock(), 3600) == 0


@pytest.mark.anyio
async def test_a_scheduled_run_consolidates_beside_the_server(service, clock, monkeypatch):
    service.add("Moved to Lisbon in 2019", user_id="ann", created_at=clock() - timedelta(days=30))
    monkeypatch.setenv("MCP_MEMORY_SERVER__TRANSPORT", "http")
    monkeypatch.setenv("MCP_MEMORY_CONSOLIDATION__SCHEDULE__EVERY_HOURS", "0.000001")
    ran = anyio.Event()
    consolidate = service.consolidator.run_if_due

    def observed(scope, every):
        result = consolidate(scope, every)
        anyio.from_thread.run_sync(ran.set)
        return result

    monkeypatch.setattr(service.consolidator, "run_if_due", observed)

    async def serve() -> None:
        with anyio.fail_after(30):
            await ran.wait()

    await with_schedule(load_settings(), service, serve)
    assert service.stats(user_id="ann").by_stage == {"archived": 1}
    assert service.stats().last_consolidation is not None

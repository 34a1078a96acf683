"""One scenario that drives every tool of the contract through any MCP client."""

from __future__ import annotations

from typing import Any

import jsonschema
from mcp.client import Client

CONTRACT_TOOLS = {
    "add_memory",
    "search_memory",
    "get_memory",
    "list_memories",
    "update_memory",
    "delete_memory",
    "memory_history",
    "consolidate",
    "stats",
}

FACTS = [
    ("coffee", "Dana takes her coffee with oat milk and no sugar", "preference"),
    ("sister", "Dana's brother Tom is a firefighter in Denver", "relationship"),
    ("allergy", "Dana is allergic to shellfish", "fact"),
    ("laptop", "Dana's work laptop is a ThinkPad running Fedora", "fact"),
]
QUESTIONS = {
    "coffee": "How does Dana like her coffee?",
    "sister": "What is her brother's job?",
    "allergy": "Which food makes Dana ill?",
    "laptop": "What computer does she use at work?",
}

# Each bad call must come back as a tool error whose text contains the fragment.
BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("add_memory", {"content": ""}, "content is empty"),
    ("add_memory", {"content": "   \n "}, "content is empty"),
    ("add_memory", {"content": "x" * 10_001}, "over the limit"),
    ("add_memory", {"content": "ok", "importance": 1.5}, "between 0 and 1"),
    ("add_memory", {"content": "ok", "importance": -0.1}, "between 0 and 1"),
    ("add_memory", {"content": "ok", "memory_type": "dream"}, "episodic, semantic, procedural"),
    ("add_memory", {"content": "ok", "category": "gossip"}, "preference, fact"),
    ("add_memory", {"content": "ok", "retention": "forever"}, "ephemeral"),
    ("add_memory", {"content": "ok", "metadata": {"a": [[["x"]]]}}, "nested deeper"),
    ("add_memory", {"content": "ok", "metadata": {"a": {"b": 1}}}, "nested objects"),
    ("add_memory", {"content": "ok", "created_at": "yesterday"}, "ISO-8601"),
    ("add_memory", {"content": "ok", "created_at": "2999-01-01"}, "in the future"),
    ("search_memory", {"query": "x", "limit": 0}, "between 1 and 100"),
    ("search_memory", {"query": "x", "limit": 100_000}, "between 1 and 100"),
    ("search_memory", {"query": ""}, "query is empty"),
    ("search_memory", {"query": "x", "since": "31/12/2024"}, "ISO-8601"),
    ("get_memory", {"id": "0123456789abcdef"}, "not found"),
    ("get_memory", {"id": "../../etc/passwd"}, "not a memory id"),
    ("update_memory", {"id": "0123456789abcdef", "content": "x"}, "not found"),
    ("delete_memory", {"id": "0123456789abcdef"}, "not found"),
    ("memory_history", {"id": "0123456789abcdef"}, "not found"),
    ("list_memories", {"order": "random"}, "created, updated"),
    ("list_memories", {"offset": -1}, "offset"),
]


async def call(client: Client, tool: str, args: dict[str, Any], schemas: dict) -> dict:
    """Call a tool, assert success, check its structured content against its output schema."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, (tool, result.content)
    assert result.content and result.content[0].text
    jsonschema.validate(result.structured_content, schemas[tool])
    return result.structured_content


async def output_schemas(client: Client) -> dict[str, dict]:
    tools = (await client.list_tools()).tools
    assert {t.name for t in tools} >= CONTRACT_TOOLS
    for tool in tools:
        assert tool.description and tool.output_schema, tool.name
    return {t.name: t.output_schema for t in tools}


async def exercise_every_tool(client: Client, user: str) -> None:
    """Add, find, read, list, update, history, consolidate, stats and delete, with checks."""
    schemas = await output_schemas(client)
    ids = {}
    for key, text, category in FACTS:
        added = await call(
            client, "add_memory", {"content": text, "user_id": user, "category": category}, schemas
        )
        assert added["duplicate_of"] is None
        ids[key] = added["id"]
    again = await call(client, "add_memory", {"content": FACTS[0][1], "user_id": user}, schemas)
    assert again["duplicate_of"] == ids["coffee"]
    await call(
        client,
        "add_memory",
        {"content": "Eve collects vintage stamps", "user_id": f"{user}-other"},
        schemas,
    )

    for key, question in QUESTIONS.items():
        found = await call(
            client, "search_memory", {"query": question, "user_id": user, "limit": 3}, schemas
        )
        assert found["results"][0]["id"] == ids[key], (question, found["results"][0]["content"])
        assert all(r["memory"]["user_id"] == user for r in found["results"])

    got = await call(client, "get_memory", {"id": ids["laptop"]}, schemas)
    assert got["memory"]["content"] == FACTS[3][1] and got["memory"]["access_count"] >= 1
    listed = await call(client, "list_memories", {"user_id": user, "limit": 2}, schemas)
    assert listed["total"] == len(FACTS) and len(listed["memories"]) == 2

    updated = await call(
        client,
        "update_memory",
        {"id": ids["laptop"], "content": "Dana's work laptop is a MacBook Air"},
        schemas,
    )
    assert updated["memory"]["version"] == 2
    history = await call(client, "memory_history", {"id": ids["laptop"]}, schemas)
    assert [e["event"] for e in history["events"]] == ["ADD", "UPDATE"]
    assert history["events"][0]["content"] == FACTS[3][1]

    await call(
        client,
        "add_memory",
        {"content": "Dana is allergic to all shellfish", "user_id": user},
        schemas,
    )
    dry = await call(client, "consolidate", {"user_id": user, "dry_run": True}, schemas)
    assert dry["dry_run"] and dry["duplicates_merged"] == 1
    assert (await call(client, "stats", {"user_id": user}, schemas))["total_memories"] == len(
        FACTS
    ) + 1
    real = await call(client, "consolidate", {"user_id": user}, schemas)
    assert real["duplicates_merged"] == 1 and real["actions"][0]["memory_id"] == ids["allergy"]

    stats = await call(client, "stats", {"user_id": user}, schemas)
    assert stats["total_memories"] == len(FACTS) and stats["pending_index"] == 0

    deleted = await call(client, "delete_memory", {"id": ids["coffee"]}, schemas)
    assert deleted == {"id": ids["coffee"], "deleted": True}
    found = await call(
        client, "search_memory", {"query": QUESTIONS["coffee"], "user_id": user}, schemas
    )
    assert ids["coffee"] not in {r["id"] for r in found["results"]}


async def refuse_bad_input(client: Client, user: str) -> None:
    """Every bad call is a clear tool error, and the store is unchanged afterwards."""
    schemas = await output_schemas(client)
    await call(
        client,
        "add_memory",
        {"content": "A memory that must survive bad calls", "user_id": user},
        schemas,
    )
    before = await call(client, "stats", {}, schemas)
    existing = (await call(client, "list_memories", {"user_id": user}, schemas))["memories"][0][
        "id"
    ]
    calls = [*BAD_CALLS, ("update_memory", {"id": existing}, "nothing to update")]
    for tool, args, fragment in calls:
        result = await client.call_tool(tool, args)
        assert result.is_error, (tool, args)
        text = result.content[0].text
        assert fragment in text, (tool, args, text)
        assert "Traceback" not in text
    after = await call(client, "stats", {}, schemas)
    assert {k: v for k, v in after.items() if k != "storage_bytes"} == {
        k: v for k, v in before.items() if k != "storage_bytes"
    }

"""`mcp-memory reindex --vector-backend ...` from the command line while a server serves: the
server keeps answering, then follows the store to the other engine, and back."""

from __future__ import annotations

import json
import subprocess

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from tests.integration.conftest import server_command, server_env

FACTS = [
    "Noor keeps the router password in the blue notebook",
    "Noor's cat Miso needs thyroid pills every morning",
    "Noor is training for the Lisbon half marathon in March",
]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*server_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


async def top_id(client: Client, query: str) -> str:
    found = await client.call_tool("search_memory", {"query": query, "user_id": "noor"})
    assert not found.is_error, found.content
    return found.structured_content["results"][0]["id"]


@pytest.mark.anyio
async def test_a_serving_server_follows_the_store_to_qdrant_and_back(tmp_path):
    env = server_env(tmp_path / "data")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
    async with Client(params) as client:
        ids = {}
        for text in FACTS:
            added = await client.call_tool("add_memory", {"content": text, "user_id": "noor"})
            ids[text] = added.structured_content["id"]
        assert await top_id(client, "where is the router password?") == ids[FACTS[0]]

        moved = cli(env, "reindex", "--vector-backend", "qdrant")
        assert moved.returncode == 0, moved.stderr
        assert "qdrant collection" in moved.stdout and "replaces chroma collection" in moved.stdout
        assert '[vector] backend = "qdrant"' in moved.stdout
        assert (tmp_path / "data" / "qdrant").is_dir()
        for text in FACTS:
            assert await top_id(client, text) == ids[text]
        new = await client.call_tool(
            "add_memory", {"content": "Noor's bike has a flat rear tyre", "user_id": "noor"}
        )
        assert (
            await top_id(client, "what is wrong with the bicycle?")
            == (new.structured_content["id"])
        )
        report = json.loads(cli(env, "doctor", "--json").stdout)
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["vector index"]["status"] == "ok"
        assert "embedded Qdrant" in checks["vector index"]["detail"]
        assert checks["vector engine"]["status"] == "warn"
        assert checks["ledger vs index"]["detail"].startswith("4 memories, 4 vectors")

        back = cli(env, "reindex", "--vector-backend", "chroma")
        assert back.returncode == 0, back.stderr
        assert "chroma collection" in back.stdout and "replaces qdrant collection" in back.stdout
        assert "Now configure" not in back.stdout
        assert (
            await top_id(client, "what is wrong with the bicycle?")
            == (new.structured_content["id"])
        )
        stats = (await client.call_tool("stats", {})).structured_content
        assert stats["total_memories"] == 4 and stats["index_in_sync"]
    assert not [p for p in (tmp_path / "data" / "qdrant").iterdir() if p.is_dir()]

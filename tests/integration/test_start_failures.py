"""A stdio server that cannot start still answers its client: a desktop client shows its user
nothing of stderr, only that the server went away. So the real server, spawned as a client
does, says why in one line of stderr and answers every tool call with the reason."""

from __future__ import annotations

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from mcp_memory.ledger import Ledger
from tests.damage import truncate
from tests.integration.conftest import server_command, server_env

pytestmark = pytest.mark.anyio


def _under_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("a file where a folder should be")
    return tmp_path / "notes.txt" / "memory", "notes.txt is a file, not a directory"


def _truncated_ledger(tmp_path):
    data = tmp_path / "data"
    Ledger(data / "ledger.sqlite3").close()
    truncate(data / "ledger.sqlite3", 0.5)
    return data, "ledger.sqlite3 is damaged"


def _bad_config(tmp_path):
    (tmp_path / "config.toml").write_text("[ranking]\nrecency_weight = 'lots'\n")
    return tmp_path / "data", "ranking.recency_weight"


@pytest.mark.parametrize("broken", [_under_a_file, _truncated_ledger, _bad_config])
async def test_a_server_that_cannot_start_tells_its_client_why(tmp_path, broken):
    data_dir, reason = broken(tmp_path)
    env = server_env(data_dir)
    if broken is _bad_config:
        env["MCP_MEMORY_CONFIG"] = str(tmp_path / "config.toml")
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = await client.list_tools()
            added = await client.call_tool("add_memory", {"content": "Anything at all"})
            found = await client.call_tool("search_memory", {"query": "anything"})
    assert len(tools.tools) == 9
    for result in (added, found):
        assert result.is_error
        assert "mcp-memory could not start" in result.content[0].text
        assert reason in result.content[0].text and "restart" in result.content[0].text
    text = stderr.read_text()
    # Besides the SDK's own line for each failed call, the server said one thing: why.
    said = [line for line in text.splitlines() if line.strip() and "failed: " not in line]
    assert "Traceback" not in text
    assert len(said) == 1 and "could not start" in said[0] and reason in said[0], said

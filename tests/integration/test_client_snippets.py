"""The README's client set-up snippets are real: they parse, and they start or reach the server.

Every JSON block of the "Client set-up" section must parse. Each stdio entry is spawned as a
client would spawn it (the placeholder path replaced by this environment's `mcp-memory`, and
the data dir pointed at a temporary one) and must list the tools; each HTTP URL is connected to
on a running `mcp-memory serve --transport http` (port replaced by the test server's). The
`claude mcp add` lines are checked the same way.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from mcp_memory.cli.main import _parser
from mcp_memory.mcp.profiles import CORE_TOOLS
from tests.integration.conftest import server_command, server_env
from tests.integration.scenario import CONTRACT_TOOLS

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[2] / "README.md"
PLACEHOLDER = "/absolute/path/to/.venv/bin/mcp-memory"
README_URL = "http://127.0.0.1:8765/mcp"


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section("Client set-up"), re.S)


def entries(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The server entries of a Claude/Cursor (mcpServers) or VS Code (servers) config."""
    servers = config.get("mcpServers") or config.get("servers")
    assert servers and set(servers) == {"memory"}, config
    return list(servers.values())


def stdio_entries() -> list[dict[str, Any]]:
    return [e for b in blocks("json") for e in entries(json.loads(b)) if "command" in e]


def url_entries() -> list[dict[str, Any]]:
    return [e for b in blocks("json") for e in entries(json.loads(b)) if "url" in e]


def claude_code_lines() -> list[list[str]]:
    lines = [line for b in blocks("bash") for line in b.splitlines() if line.strip()]
    return [shlex.split(line) for line in lines if line.startswith("claude mcp add")]


def test_every_snippet_parses_and_names_a_real_command():
    assert len(blocks("json")) >= 6
    assert len(stdio_entries()) >= 4 and len(url_entries()) >= 2
    for entry in stdio_entries():
        assert entry["command"] == PLACEHOLDER and entry.get("type", "stdio") == "stdio"
        assert _parser().parse_args(entry["args"]).command == "serve"
    for entry in url_entries():
        assert entry["url"] == README_URL and entry.get("type", "http") == "http"
    stdio, http = claude_code_lines()
    assert stdio[stdio.index("--") + 1] == PLACEHOLDER
    assert _parser().parse_args(stdio[stdio.index("--") + 2 :]).command == "serve"
    assert http[http.index("--transport") + 1] == "http" and http[-1] == README_URL


async def test_stdio_snippets_start_the_server(tmp_path):
    seen = set()
    for entry in stdio_entries():
        key = json.dumps(entry, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        command, *prefix = server_command()
        env = server_env(tmp_path / "default")
        env.update(entry.get("env", {}))
        if "MCP_MEMORY_DATA_DIR" in entry.get("env", {}):
            env["MCP_MEMORY_DATA_DIR"] = str(tmp_path / "own")
        params = StdioServerParameters(command=command, args=[*prefix, *entry["args"]], env=env)
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
        wanted = (
            set(CORE_TOOLS) if env.get("MCP_MEMORY_SERVER__TOOLS") == "core" else CONTRACT_TOOLS
        )
        assert names == wanted, entry


async def test_http_snippets_reach_the_server(http_server):
    urls = {e["url"] for e in url_entries()} | {claude_code_lines()[1][-1]}
    for url in urls:
        async with Client(url.replace(":8765/", f":{http_server.port}/")) as client:
            names = {t.name for t in (await client.list_tools()).tools}
        assert names == CONTRACT_TOOLS

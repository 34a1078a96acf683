"""The README's client set-up snippets are real: they parse, and they start or reach the server.

Every JSON block of the "Client set-up" section must parse. Each stdio entry is spawned as a
client would spawn it (the placeholder path replaced by this environment's `mcp-memory`, and
the data dir pointed at a temporary one) and must list the tools; each HTTP URL is connected to
on a running `mcp-memory serve --transport http` (port replaced by the test server's) with the
snippet's headers, the token placeholder filled with the token the server generated, and is
refused without them. The `claude mcp add` lines are checked the same way.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp_memory.cli.parser import build_parser
from mcp_memory.config import Settings
from mcp_memory.mcp.profiles import CORE_TOOLS
from tests.integration.conftest import server_command, server_env
from tests.integration.scenario import CONTRACT_TOOLS

pytestmark = pytest.mark.anyio

README = Path(__file__).parents[2] / "README.md"
PLACEHOLDER = "/absolute/path/to/.venv/bin/mcp-memory"
README_URL = "http://127.0.0.1:8765/mcp"
README_TOKEN_FILE = "~/.config/mcp-memory/token"
TOKEN = re.compile(r"\$\{(?:input|env):[\w-]+\}|\$\(cat ~/\.config/mcp-memory/token\)")
TOKEN_PLACEHOLDER = re.compile(rf"Bearer (?:{TOKEN.pattern})")


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


def claude_http_line() -> tuple[str, dict[str, str]]:
    """The URL and headers of the `claude mcp add --transport http` line."""
    (line,) = [words for words in claude_code_lines() if "--transport" in words]
    assert line[line.index("--transport") + 1] == "http"
    headers = dict(
        line[n + 1].split(": ", 1) for n, word in enumerate(line) if word in ("--header", "-H")
    )
    (url,) = [word for word in line if word.startswith("http://")]
    return url, headers


def test_every_snippet_parses_and_names_a_real_command(monkeypatch):
    assert len(blocks("json")) >= 6
    assert len(stdio_entries()) >= 4 and len(url_entries()) >= 2
    for entry in stdio_entries():
        assert entry["command"] == PLACEHOLDER and entry.get("type", "stdio") == "stdio"
        assert build_parser().parse_args(entry["args"]).command == "serve"
    for entry in url_entries():
        assert entry["url"] == README_URL and entry.get("type", "http") == "http"
        assert TOKEN_PLACEHOLDER.fullmatch(entry["headers"]["Authorization"]), entry
    stdio = next(words for words in claude_code_lines() if "--" in words)
    assert stdio[stdio.index("--") + 1] == PLACEHOLDER
    assert build_parser().parse_args(stdio[stdio.index("--") + 2 :]).command == "serve"
    url, headers = claude_http_line()
    assert url == README_URL and TOKEN_PLACEHOLDER.fullmatch(headers["Authorization"])
    monkeypatch.delenv("XDG_CONFIG_HOME")  # the README names the default token file
    assert Settings().security.token_file == Path(README_TOKEN_FILE).expanduser()


def with_token(headers: dict[str, str], token: str) -> dict[str, str]:
    """The headers with the README's placeholder (an input, a variable, `$(cat FILE)`) filled."""
    return {name: TOKEN.sub(token, value) for name, value in headers.items()}


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


async def test_http_snippets_reach_the_server_with_the_token(http_server):
    snippets = [(e["url"], e["headers"]) for e in url_entries()] + [claude_http_line()]
    for url, headers in snippets:
        url = url.replace(":8765/", f":{http_server.port}/")
        async with (
            create_mcp_http_client(headers=with_token(headers, http_server.token)) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
        assert names == CONTRACT_TOOLS
        with pytest.raises(urllib.error.HTTPError) as refused:  # the header is what lets it in
            urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"))
        with refused.value:
            assert refused.value.code == 401

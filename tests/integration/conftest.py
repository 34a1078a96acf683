"""Real servers for integration tests: `mcp-memory serve` in a subprocess, one per transport.

Readiness is awaited on an event (the server's own "running" line on stderr, or the stdio
handshake), with a deadline; never on a sleep.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.processes import stop_process

STARTUP_DEADLINE_S = 120

ADMIN = "admin-token-5f1c9e0a7b3d"
ALICE = "alice-token-8e2d4b6a1c0f"
CONFIG = f"""
[[security.tokens]]
name = "admin"
token = "{ADMIN}"

[[security.tokens]]
name = "alice-app"
token = "{ALICE}"
user_id = ["alice"]
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def server_command() -> list[str]:
    """The installed console script, or the module if the script is not on PATH."""
    exe = shutil.which("mcp-memory")
    return [exe] if exe else [sys.executable, "-m", "mcp_memory"]


def server_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(MCP_MEMORY_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["MCP_MEMORY_EMBEDDING__CACHE_DIR"] = os.environ["MCP_MEMORY_EMBEDDING__CACHE_DIR"]
    return env


def post_bytes(url: str, headers: dict[str, str], payload: bytes) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one POST speaking MCP's streamable-HTTP content types, without
    any MCP client: for what a client would never send."""
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **headers,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class NetworkServer:
    """A running `mcp-memory serve --transport sse|http` process, and where it keeps the token
    it generates when none is configured."""

    process: subprocess.Popen
    port: int
    transport: str
    token_file: Path
    stderr_lines: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        """The generated token the server requires."""
        return self.token_file.read_text(encoding="utf-8").strip()

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, token: str | None = None) -> Client:
        """An MCP client of this server's transport sending ``token`` (default: the generated
        one); its HTTP client is closed with it."""
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if self.transport == "sse":
            return Client(sse_client(f"{self.base}/sse", headers=headers))
        http = create_mcp_http_client(headers=headers)
        return Client(_closing(http, streamable_http_client(f"{self.base}/mcp", http_client=http)))

    def stop(self) -> None:
        stop_process(self.process)
        if self.pump is not None:
            self.pump.join(timeout=20)
        if self.process.stderr is not None:
            self.process.stderr.close()


@asynccontextmanager
async def _closing(http: Any, transport: Any) -> AsyncIterator[Any]:
    async with http, transport as streams:
        yield streams


def start_network_server(
    transport: str,
    data_dir: Path,
    *extra: str,
    token_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> NetworkServer:
    """Spawn the server and return once it says it is accepting connections. Without a
    configured token it generates one in ``token_file`` (default: beside the data dir);
    ``env`` adds variables (a storage engine's settings)."""
    port = free_port()
    token_file = token_file or data_dir.with_name(data_dir.name + ".token")
    variables = {**server_env(data_dir), "MCP_MEMORY_SECURITY__TOKEN_FILE": str(token_file)}
    process = subprocess.Popen(
        [*server_command(), "serve", "--transport", transport, "--port", str(port), *extra],
        env={**variables, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = NetworkServer(process, port, transport, token_file)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.stderr_lines.append(line)
            lines.put(line)
        lines.put(None)

    server.pump = threading.Thread(target=pump, daemon=True)
    server.pump.start()
    while True:
        try:
            line = lines.get(timeout=STARTUP_DEADLINE_S)
        except queue.Empty:
            server.stop()
            raise RuntimeError(
                "server did not start in time:\n" + "".join(server.stderr_lines)
            ) from None
        if line is None:
            raise RuntimeError("server exited at start:\n" + "".join(server.stderr_lines))
        if "Uvicorn running on" in line:
            return server


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory) -> Iterator[NetworkServer]:
    server = start_network_server("sse", tmp_path_factory.mktemp("sse-data"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory) -> Iterator[NetworkServer]:
    server = start_network_server("http", tmp_path_factory.mktemp("http-data"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secure_server(tmp_path_factory) -> Iterator[NetworkServer]:
    """One http server with an admin token and a token bound to alice, shared by the files
    that attack it (each test uses users of its own)."""
    root = tmp_path_factory.mktemp("secure")
    config = root / "config.toml"
    config.write_text(CONFIG)
    server = start_network_server("http", root / "data", "--config", str(config))
    yield server
    server.stop()

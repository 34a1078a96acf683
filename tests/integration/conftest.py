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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import stop_process

STARTUP_DEADLINE_S = 120


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class NetworkServer:
    """A running `mcp-memory serve --transport sse|http` process."""

    process: subprocess.Popen
    port: int
    stderr_lines: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)
        if self.pump is not None:
            self.pump.join(timeout=20)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_network_server(
    transport: str, data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> NetworkServer:
    """Spawn the server and return once it says it is accepting connections; ``env`` adds
    variables (a storage engine's settings)."""
    port = free_port()
    process = subprocess.Popen(
        [*server_command(), "serve", "--transport", transport, "--port", str(port), *extra],
        env={**server_env(data_dir), **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = NetworkServer(process, port)
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

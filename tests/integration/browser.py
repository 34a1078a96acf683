"""A real headless Chromium (Debian's ``chromium`` package, installed by .ci/run) driven by
Playwright for Python, for the tests of the memory page; and MCP clients a sync test can call.

Playwright's own browser download needs the network, so the system's Chromium is launched
instead, with the flags it needs as root in a container and none that reach the network.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium; a clear failure (never a skip) when it is not installed."""
    executable = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    assert executable, "Chromium is missing: apt-get install -y chromium (as .ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class McpClient:
    """An MCP client over streamable HTTP with a bearer token, callable from sync code."""

    def __init__(self, portal: BlockingPortal, url: str, token: str):
        self.portal = portal
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        self._http = portal.wrap_async_context_manager(http)
        self._client = portal.wrap_async_context_manager(
            Client(streamable_http_client(url, http_client=self._http.__enter__()))
        )
        self.client = self._client.__enter__()

    def call(self, tool: str, **arguments: Any) -> Any:
        """The tool's reply (``is_error`` set for a tool error)."""
        return self.portal.call(self.client.call_tool, tool, arguments)

    def close(self) -> None:
        self._client.__exit__(None, None, None)
        self._http.__exit__(None, None, None)


@contextmanager
def portal() -> Iterator[BlockingPortal]:
    """An event loop in a thread, for the async MCP clients of a sync test."""
    with start_blocking_portal(backend="asyncio") as running:
        yield running

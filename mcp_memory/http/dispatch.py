"""One ASGI app in front of several: requests under given path prefixes go to one app,
everything else (and the lifespan) to the main one.

``mcp-memory serve --transport http|sse`` serves the page (``/ui``) and ``/metrics`` beside
the MCP endpoints this way: each app keeps its own middleware (the MCP app its bearer check
and the SDK's Host/Origin checks, the page its sign-in and CSRF checks), and the MCP app keeps
its lifespan (the streamable-HTTP session manager runs in it).
"""

from __future__ import annotations

from collections.abc import Sequence

from mcp_memory.http.auth import ASGIApp, Receive, Scope, Send


class Dispatch:
    """Routes by path prefix: ``/ui`` takes ``/ui`` and ``/ui/...``, not ``/uix``."""

    def __init__(self, main: ASGIApp, beside: ASGIApp, prefixes: Sequence[str]):
        self.main = main
        self.beside = beside
        self.prefixes = tuple(p.rstrip("/") for p in prefixes)

    def routes_beside(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.routes_beside(scope.get("path", "")):
            await self.beside(scope, receive, send)
        else:
            await self.main(scope, receive, send)

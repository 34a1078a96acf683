"""``/metrics``: the process's metrics for a Prometheus scraper.

The same rules as the tools: with tokens configured, a scraper sends one (``Authorization:
Bearer``), and it must be a token bound to no scope, since the figures cover every memory; on
a server that requires no token, anyone who can reach it may read them.
``metrics.loopback_without_token`` lets a scraper on this machine in without a token.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response

from mcp_memory.http.auth import bearer
from mcp_memory.http.origins import is_loopback
from mcp_memory.observe.metrics import CONTENT_TYPE
from mcp_memory.web.handling import Page


def admitted(page: Page, request: Request) -> tuple[int, str] | None:
    """None when the scraper may read the metrics, else (status, reason)."""
    client = request.client.host if request.client else ""
    if page.settings.metrics.loopback_without_token and is_loopback(client):
        return None
    secret = bearer(request.headers.get("authorization", "").encode("latin-1") or None)
    if secret is not None:
        grant = page.book.grant(secret)
        if grant is None:
            return 401, "unknown_token"
        return None if grant.unrestricted else (403, "scope")
    if page.open_access:
        return None
    return 401, "missing_token"


async def metrics(request: Request) -> Response:
    page: Page = request.app.state.page
    if page.metrics is None:
        return Response("metrics are off (metrics.enabled = false)", 404)
    refusal = admitted(page, request)
    if refusal is not None:
        status, reason = refusal
        page.refused(reason)
        headers = {"www-authenticate": 'Bearer realm="mcp-memory"'} if status == 401 else None
        return Response(b"", status, headers=headers)
    body = await anyio.to_thread.run_sync(page.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE)

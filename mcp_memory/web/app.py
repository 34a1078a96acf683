"""The page's ASGI app: its routes under ``/ui``, ``/metrics``, and the gate in front.

``web_app`` is called by the two entry points that serve it: ``mcp-memory serve --transport
http|sse`` (beside the MCP endpoints, same process, same service, same tokens) and ``mcp-memory
ui`` (alone on loopback, with one-time sign-in codes). Templates and assets are files of this
package: nothing is fetched from anywhere, and there is no build step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mcp_memory.config import Settings, TokenSettings
from mcp_memory.http.auth import TokenBook, grants
from mcp_memory.http.origins import Origins
from mcp_memory.service import MemoryService
from mcp_memory.web import browse, memory, overview, scrape, signin, tidy
from mcp_memory.web.gate import Gate
from mcp_memory.web.handling import Page
from mcp_memory.web.sessions import Nonces, Sessions

if TYPE_CHECKING:
    from mcp_memory.observe.metrics import Metrics

PACKAGE = Path(str(resources.files("mcp_memory.web")))


def web_app(
    service: MemoryService,
    settings: Settings,
    *,
    bind_host: str,
    tokens: Sequence[TokenSettings] | None = None,
    nonces: Nonces | None = None,
    open_access: bool | None = None,
    metrics: Metrics | None = None,
) -> Any:
    """The page and ``/metrics`` over ``service``, for a server bound to ``bind_host``.

    ``tokens`` sign in (default: ``settings.security.tokens``); ``nonces`` are one-time codes
    (``mcp-memory ui``); ``open_access`` (default: no tokens and no codes) lets anyone who
    reaches the server in, as the tools do when no token is configured.
    """
    tokens = settings.security.tokens if tokens is None else tokens
    if open_access is None:
        open_access = not tokens and nonces is None
    page = Page(
        service=service,
        settings=settings,
        book=TokenBook(grants(tokens)),
        sessions=Sessions(settings.ui.session_hours * 3600),
        nonces=nonces,
        open_access=open_access,
        templates=templates(),
        metrics=metrics,
        assets=asset_urls(),
    )
    app = Starlette(routes=routes())
    app.state.page = page
    origins = Origins.for_server(bind_host, settings.security)
    return Gate(app, origins, settings.security.allowed_origins, page.refused)


def routes() -> list[Any]:
    return [
        Route("/ui", lambda _: RedirectResponse("/ui/", status_code=308)),
        Route("/ui/", browse.browse),
        Route("/ui/memory/{memory_id}", memory.show),
        Route("/ui/memory/{memory_id}/edit", memory.edit, methods=["POST"]),
        Route("/ui/memory/{memory_id}/delete", memory.delete, methods=["POST"]),
        Route("/ui/memory/{memory_id}/restore", memory.restore, methods=["POST"]),
        Route("/ui/consolidate", tidy.consolidation),
        Route("/ui/consolidate/run", tidy.run, methods=["POST"]),
        Route("/ui/consolidate/undo", tidy.undo, methods=["POST"]),
        Route("/ui/stats", overview.stats),
        Route("/ui/export", overview.export),
        Route("/ui/signin", signin.signin_form),
        Route("/ui/signin", signin.signin, methods=["POST"]),
        Route("/ui/signout", signin.signout, methods=["POST"]),
        Mount("/ui/static", StaticFiles(directory=PACKAGE / "static"), name="static"),
        Route("/metrics", scrape.metrics),
    ]


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M") if moment else ""
    return env


def asset_urls() -> dict[str, str]:
    """Each static file's URL, with a digest of its content: cached, never stale."""
    urls = {}
    for path in sorted((PACKAGE / "static").iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        urls[path.name] = f"/ui/static/{path.name}?v={digest}"
    return urls

"""``mcp-memory ui``: the page alone, on loopback, for set-ups whose clients run the server
over stdio.

It opens the same data directory as those servers (the ledger and the index are safe to share
between processes: writes from either side are seen by the other), binds 127.0.0.1 only, and
prints a one-time sign-in link for the person at this machine; configured bearer tokens sign in
too, bound to their scopes as always. ``/metrics`` is served beside the page.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import webbrowser
from typing import TextIO

import anyio
import uvicorn
from starlette.responses import RedirectResponse

from mcp_memory.config import Settings
from mcp_memory.errors import ConfigError
from mcp_memory.http.auth import Receive, Scope, Send
from mcp_memory.http.dispatch import Dispatch
from mcp_memory.observe.metrics import Metrics
from mcp_memory.service import MemoryService
from mcp_memory.web.app import web_app
from mcp_memory.web.sessions import Nonces

logger = logging.getLogger(__name__)
HOST = "127.0.0.1"


def serve_locally(
    settings: Settings, service: MemoryService, port: int, out: TextIO, open_browser: bool = False
) -> None:
    """Serve the page on 127.0.0.1:``port`` (0: a free port) until interrupted."""
    sock = bind(port)
    port = sock.getsockname()[1]
    nonces = Nonces(settings.ui.link_minutes * 60)
    metrics = Metrics(service) if settings.metrics.enabled else None
    page = web_app(service, settings, bind_host=HOST, nonces=nonces, metrics=metrics)
    app = Dispatch(_to_page, page, ("/ui", "/metrics"))
    link = f"http://{HOST}:{port}/ui/signin#code={nonces.issue()}"
    print(
        f"The memory page of {settings.data_dir} is at http://{HOST}:{port}/ui/\n"
        f"Sign in with this link (it works once, for {settings.ui.link_minutes:g} minutes):\n"
        f"  {link}\nPress Ctrl+C to stop.",
        file=out,
        flush=True,
    )
    threading.Thread(target=_warm_up, args=(service,), name="warm-up", daemon=True).start()
    if open_browser:
        webbrowser.open(link)
    config = uvicorn.Config(
        app, log_config=None, log_level=settings.log_level.lower(), lifespan="off"
    )
    anyio.run(uvicorn.Server(config).serve, [sock])


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``, or ``ConfigError`` saying what to do."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        taken = exc.errno == errno.EADDRINUSE
        raise ConfigError(
            f"cannot listen on {HOST}:{port}: "
            + ("the port is taken (is `mcp-memory ui` already running?); " if taken else "")
            + "choose another with --port, or --port 0 for any free one"
        ) from None
    sock.listen(128)
    return sock


async def _to_page(scope: Scope, receive: Receive, send: Send) -> None:
    """Everything outside /ui and /metrics: to the page."""
    await RedirectResponse("/ui/", status_code=303)(scope, receive, send)


def _warm_up(service: MemoryService) -> None:
    try:
        service.warm_up()
    except Exception:
        logger.exception("warm-up failed; searches will report the cause")

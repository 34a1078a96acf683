"""Running the server: the transport (a network one with the memory page at ``/ui`` and
``/metrics`` beside the MCP endpoints), the warm-up after the handshake, and the consolidation
schedule beside it.

``run_server`` is what ``mcp-memory serve`` calls: it settles the tokens a network server
requires (refusing ``--no-auth`` off loopback) before anything loads, builds the process's one service, serves until the client or a signal stops it,
and closes the service.

A stdio server that cannot start (a bad configuration, an unwritable or damaged store) still
answers its client: a desktop client shows its user nothing of the server's stderr, only that
the server went away. So it prints the reason on one line and then serves every tool, each call
answered with that reason as a tool error, which the agent reads and can pass on
(``serve_unavailable``). A network server exits instead: whoever runs it reads stderr.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from mcp_memory.config import Settings, TokenSettings
from mcp_memory.consolidation import schedule
from mcp_memory.consolidation.summary import consolidate_summary
from mcp_memory.errors import MemoryServiceError
from mcp_memory.factory import build_service
from mcp_memory.http.dispatch import Dispatch
from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.calls import Activity
from mcp_memory.mcp.security import http_app, network_tokens, token_notice
from mcp_memory.models import Scope
from mcp_memory.service import MemoryService

if TYPE_CHECKING:
    from mcp_memory.observe.metrics import Metrics

logger = logging.getLogger(__name__)


TERMINAL_NOTE = (
    "mcp-memory serve speaks MCP over stdio: it is meant to be started by an MCP client "
    "(Claude Desktop, Claude Code, Cursor, ...; see the README's Quick start), not typed at. "
    "Waiting for a client on stdin; Ctrl-C quits."
)


def run_server(settings: Settings) -> None:
    """Serve the configured transport with a service built from ``settings``, then close it.

    The tokens a network transport requires are settled first (a generated one created, and
    the user told where it is and how to give it to a client), before anything loads."""
    required = network_tokens(settings)
    if notice := token_notice(settings, required):
        print(notice, file=sys.stderr, flush=True)
    if settings.server.transport == "stdio" and sys.stdin.isatty():
        print(TERMINAL_NOTE, file=sys.stderr, flush=True)  # a person, not a client, ran it
    try:
        service = build_service(settings)
    except Exception as exc:
        if settings.server.transport != "stdio":
            raise
        logger.debug("the service could not be built", exc_info=True)
        serve_unavailable(exc, settings.server.tools)
        return
    try:
        serve(settings, service, required.tokens)
    finally:
        service.close()


class Unavailable:
    """Stands in for a service that could not be built: every call raises the reason."""

    def __init__(self, reason: str):
        self.reason = reason

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise MemoryServiceError(self.reason)

        return refuse


def unavailable_reason(failure: BaseException) -> str:
    """The one line a failed start says: the core's message, or the exception's."""
    text = str(failure) if isinstance(failure, MemoryServiceError) else None
    text = text or f"{type(failure).__name__}: {failure}"
    return (
        f"mcp-memory could not start: {text}. Fix this, then restart the server (in a desktop "
        "client: restart the app)"
    )


def serve_unavailable(failure: BaseException, tools: str = "full") -> None:
    """Say why on one line of stderr, then answer every stdio call with it (module docstring)."""
    reason = unavailable_reason(failure)
    logger.error("%s", reason)
    mcp = create_server(Unavailable(reason), tools=tools)  # type: ignore[arg-type]
    anyio.run(mcp.run_stdio_async)


def serve(
    settings: Settings, service: MemoryService, tokens: Sequence[TokenSettings] | None = None
) -> None:
    """Run the server on the configured transport until the client or a signal stops it,
    requiring ``tokens`` on a network transport (default: those ``network_tokens`` says)."""
    if tokens is None:
        tokens = network_tokens(settings).tokens
    activity = Activity()
    cfg = settings.server
    metrics = None
    if cfg.transport != "stdio" and settings.metrics.enabled:
        from mcp_memory.observe.metrics import Metrics  # network servers alone serve metrics

        metrics = Metrics(service)
    mcp = create_server(service, tools=cfg.tools, activity=activity, metrics=metrics)
    warm_up_after_handshake(mcp, service, settings.performance.warm_up_wait_s, activity)
    if cfg.transport == "stdio":
        serving = mcp.run_stdio_async
    else:
        import uvicorn

        config = uvicorn.Config(
            network_app(mcp, settings, service, metrics, tokens),
            host=cfg.host,
            port=cfg.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's lines go through the root logger's format
        )
        serving = uvicorn.Server(config).serve
    anyio.run(with_schedule, settings, service, serving, metrics)


def network_app(
    mcp: MCPServer,
    settings: Settings,
    service: MemoryService,
    metrics: Metrics | None,
    tokens: Sequence[TokenSettings] | None = None,
) -> Any:
    """The MCP endpoints, with the memory page (``/ui``) and ``/metrics`` beside them unless
    turned off: one process, one service, the same tokens (by default those
    ``network_tokens`` requires)."""
    if tokens is None:
        tokens = network_tokens(settings).tokens
    app = http_app(mcp, settings, tokens, None if metrics is None else metrics.refused)
    prefixes = (["/ui"] if settings.ui.enabled else []) + (["/metrics"] if metrics else [])
    if not prefixes:
        return app
    from mcp_memory.web.app import web_app

    page = web_app(
        service, settings, bind_host=settings.server.host, tokens=tokens, metrics=metrics
    )
    return Dispatch(app, page, prefixes)


def warm_up_after_handshake(
    mcp: MCPServer, service: MemoryService, wait_s: float, activity: Activity
) -> threading.Thread:
    """Load the model once the client has listed the tools (or after ``wait_s`` seconds), then
    open the vector index and reconcile it at the first moment no tool call is running.

    Loading a model holds the GIL for stretches (seconds when torch is imported: the torch
    runtime, or the one-time ONNX conversion): started at spawn, it doubled the time to the
    tool list (benchmarks/perf.py). Opening Chroma on a large store holds it too (half a second
    at 100k memories), so it waits for a quiet moment (at most ``wait_s`` seconds, or one); a
    search over everything meanwhile scans the scoped copy (``MemoryService.defer_index_open``).
    A tool call that needs the model before the warm-up starts loads it itself.

    The first ``tools/list`` is seen by a server middleware that watches, and changes, nothing.
    """
    listed = threading.Event()

    async def note_tools_listed(
        ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        try:
            return await call_next(ctx)
        finally:
            if ctx.method == "tools/list":
                listed.set()

    mcp.middleware.append(note_tools_listed)
    service.defer_index_open()

    def warm_up() -> None:
        try:
            service.ledger.verify()  # on its own connection: no call waits for it
            listed.wait(wait_s)
            service.embedder.embed_query("warm up")
            activity.wait_idle(timeout=max(wait_s, 1.0))  # under steady load, not forever
            service.reconcile()
        except MemoryServiceError as exc:
            logger.error("warm-up stopped: %s", exc)
        except Exception:
            logger.exception("warm-up failed; tool calls will report the cause")

    thread = threading.Thread(target=warm_up, name="warm-up", daemon=True)
    thread.start()
    return thread


def schedule_hours(settings: Settings) -> float:
    """Hours between background consolidation runs for this transport (0: none). Never in a
    stdio session unless ``consolidation.schedule.in_stdio`` allows it."""
    every = settings.consolidation.schedule
    if settings.server.transport == "stdio" and not every.in_stdio:
        return 0.0
    return every.every_hours


async def with_schedule(
    settings: Settings,
    service: MemoryService,
    run: Callable[[], Any],
    metrics: Metrics | None = None,
) -> None:
    """Serve with ``run``, consolidating every scope on the configured schedule meanwhile."""
    every = schedule_hours(settings) * 3600

    def job() -> None:
        result = service.consolidator.run_if_due(Scope(), timedelta(seconds=every))
        if result is None:
            logger.info("scheduled consolidation: another server sharing the store just ran it")
            return
        if metrics is not None:
            metrics.consolidated(result)
        logger.info("scheduled consolidation: %s", consolidate_summary(result))

    last = service.consolidator.last_run(Scope()) if every else None
    delay = schedule.first_delay(last.at if last else None, service.clock(), every)
    await schedule.alongside(run, job, every, delay)

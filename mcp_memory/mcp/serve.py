"""Running the server: the transport, the warm-up after the handshake, and the consolidation
schedule beside it.

``run_server`` is what ``mcp-memory serve`` calls: it refuses an unprotected network server before
anything loads, builds the process's one service, serves until the client or a signal stops it,
and closes the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer

from mcp_memory.config import Settings
from mcp_memory.consolidation import schedule
from mcp_memory.consolidation.summary import consolidate_summary
from mcp_memory.factory import build_service
from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.calls import Activity
from mcp_memory.mcp.security import check_network_security, http_app
from mcp_memory.models import Scope
from mcp_memory.service import MemoryService

logger = logging.getLogger(__name__)


def run_server(settings: Settings) -> None:
    """Serve the configured transport with a service built from ``settings``, then close it."""
    check_network_security(settings)
    service = build_service(settings)
    try:
        serve(settings, service)
    finally:
        service.close()


def serve(settings: Settings, service: MemoryService) -> None:
    """Run the server on the configured transport until the client or a signal stops it."""
    check_network_security(settings)
    activity = Activity()
    mcp = create_server(service, tools=settings.server.tools, activity=activity)
    warm_up_after_handshake(mcp, service, settings.performance.warm_up_wait_s, activity)
    cfg = settings.server
    if cfg.transport == "stdio":
        serving = mcp.run_stdio_async
    else:
        import uvicorn

        config = uvicorn.Config(
            http_app(mcp, settings),
            host=cfg.host,
            port=cfg.port,
            log_level=settings.log_level.lower(),
        )
        serving = uvicorn.Server(config).serve
    anyio.run(with_schedule, settings, service, serving)


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
        listed.wait(wait_s)
        try:
            service.embedder.embed_query("warm up")
            activity.wait_idle(timeout=max(wait_s, 1.0))  # under steady load, not forever
            service.reconcile()
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


async def with_schedule(settings: Settings, service: MemoryService, run: Callable[[], Any]) -> None:
    """Serve with ``run``, consolidating every scope on the configured schedule meanwhile."""
    every = schedule_hours(settings) * 3600

    def job() -> None:
        result = service.consolidator.run_if_due(Scope(), timedelta(seconds=every))
        if result is None:
            logger.info("scheduled consolidation: another server sharing the store just ran it")
        else:
            logger.info("scheduled consolidation: %s", consolidate_summary(result))

    last = service.consolidator.last_run(Scope()) if every else None
    delay = schedule.first_delay(last.at if last else None, service.clock(), every)
    await schedule.alongside(run, job, every, delay)

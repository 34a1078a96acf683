"""How a tool call or a resource read reaches the service.

Every request goes the same way: the caller's grant (from its bearer token) is made current, the
blocking service call runs in a worker thread (so a slow embedding never stalls other clients)
and is counted as activity while it runs, and the core's errors become the SDK's errors, whose
message the agent reads. ``AppState`` is what the MCP lifespan yields to every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from mcp_memory.errors import MemoryNotFound, MemoryServiceError
from mcp_memory.http.auth import GRANT_KEY
from mcp_memory.mcp.metered import note_error
from mcp_memory.policy import access
from mcp_memory.service import MemoryService

T = TypeVar("T")


class Activity:
    """The tool calls in progress, so that start-up work that would stall them (opening the
    vector index) can wait for a moment with none."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._cond:
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until no call is running (True), or ``timeout`` seconds have passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._running == 0, timeout)


@dataclass
class AppState:
    """What the MCP lifespan yields to every tool call: the process's one service, and the
    count of calls in progress."""

    service: MemoryService
    activity: Activity = field(default_factory=Activity)


def service_for(ctx: Context) -> MemoryService:
    """The service, with the caller's grant (from its bearer token) made current for the call.

    Every tool and resource goes through here, so every request runs confined to its token's
    scopes.
    """
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    access.set_current(scope.get(GRANT_KEY) if isinstance(scope, dict) else None)
    return ctx.request_context.lifespan_context.service


async def _in_worker(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with ctx.request_context.lifespan_context.activity.running():
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


async def call(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking service call for a tool; core errors become tool errors."""
    try:
        return await _in_worker(ctx, fn, *args, **kwargs)
    except MemoryServiceError as exc:
        note_error(exc)
        raise ToolError(str(exc)) from exc


async def read(ctx: Context, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking service read for a resource; core errors become resource errors."""
    try:
        return await _in_worker(ctx, fn, *args, **kwargs)
    except MemoryNotFound as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    except MemoryServiceError as exc:
        raise ResourceError(str(exc)) from exc

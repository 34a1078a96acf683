"""Tool calls counted for ``/metrics``: a server middleware that times every ``tools/call`` and
counts it by tool and outcome, and counts the consolidation runs the ``consolidate`` tool makes.

The SDK turns a tool's error into a reply with ``isError``, so the middleware sees no exception;
``calls.call`` notes the kind of core error in the request's ``Outcome`` instead. An error
reply with no note was refused before the tool ran (an argument it does not take, a tool that
does not exist): outcome ``refused``. Tool names outside the published ones are counted as
``unknown``, so a caller cannot grow the label set.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from mcp_memory.models import ConsolidateResult
from mcp_memory.observe.outcomes import outcome_of

if TYPE_CHECKING:
    from mcp_memory.observe.metrics import Metrics


@dataclass
class Outcome:
    """What the tool call being served ended with, noted by ``calls.call``."""

    error: BaseException | None = None


_OUTCOME: ContextVar[Outcome | None] = ContextVar("mcp_memory_outcome", default=None)


def note_error(error: BaseException) -> None:
    """Tell the middleware which core error the current tool call raised."""
    outcome = _OUTCOME.get()
    if outcome is not None:
        outcome.error = error


def count_tool_calls(metrics: Metrics, tools: Collection[str]) -> Any:
    """The server middleware that counts and times calls of ``tools`` into ``metrics``."""

    async def counted(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        name = (ctx.params or {}).get("name")
        tool = name if isinstance(name, str) and name in tools else "unknown"
        outcome = Outcome()
        token = _OUTCOME.set(outcome)
        start = time.perf_counter()
        result: HandlerResult = None
        try:
            result = await call_next(ctx)
        finally:
            _OUTCOME.reset(token)
            seconds = time.perf_counter() - start
            label = _label(result, outcome)
            metrics.tool_call(tool, label, seconds)
        if tool == "consolidate" and label == "ok" and isinstance(result, dict):
            metrics.consolidated(ConsolidateResult.model_validate(result["structuredContent"]))
        return result

    return counted


def _label(result: HandlerResult, outcome: Outcome) -> str:
    if outcome.error is not None:
        return outcome_of(outcome.error)
    if isinstance(result, dict) and not result.get("isError"):
        return "ok"
    return "refused" if isinstance(result, dict) else "error"

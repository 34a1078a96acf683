"""Background jobs on a timer beside a running server: scheduled consolidation.

Off unless configured (``consolidation.schedule.every_hours``); mcp/serve.py decides whether the
transport allows it (network servers do, a stdio session only when ``in_stdio`` is set). The
job runs in a worker thread so the event loop keeps serving clients; a failure is logged and
the next run comes at the next interval.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio

logger = logging.getLogger(__name__)


def first_delay(last_run: datetime | None, now: datetime, every_seconds: float) -> float:
    """Seconds until the next run is due: an interval after the last run (or after now)."""
    if last_run is None:
        return every_seconds
    return max(0.0, (last_run - now).total_seconds() + every_seconds)


async def alongside(
    serve: Callable[[], Awaitable[Any]],
    job: Callable[[], Any],
    every_seconds: float,
    delay_seconds: float,
) -> None:
    """Run ``serve`` until it returns, running ``job`` every ``every_seconds`` meanwhile
    (first after ``delay_seconds``); no job at all when ``every_seconds`` is 0."""
    if every_seconds <= 0:
        await serve()
        return
    async with anyio.create_task_group() as group:
        group.start_soon(_periodically, job, every_seconds, delay_seconds)
        await serve()
        group.cancel_scope.cancel()


async def _periodically(job: Callable[[], Any], every: float, delay: float) -> None:
    while True:
        await anyio.sleep(delay)
        try:
            await anyio.to_thread.run_sync(job)
        except Exception:
            logger.exception("scheduled job failed; it runs again in %.0f s", every)
        delay = every

"""The stats of a scope as pictures, and an export of a scope to download.

The export is the same JSONL as ``mcp-memory export`` (every memory of the scope, all stages,
oldest first, with its history), streamed a batch at a time. The scope is checked against the
caller's grant before the first byte is sent, so a refusal is a page, not a broken download.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from starlette.responses import Response, StreamingResponse

from mcp_memory.models import Retention, Stage
from mcp_memory.web.charts import chart, ordered
from mcp_memory.web.handling import Visit, viewing

AGE_BANDS = (
    ("last_24h", "last 24 hours"),
    ("last_week", "last week"),
    ("last_month", "last month"),
    ("older", "older"),
)


@viewing
async def stats(visit: Visit) -> Response:
    result = await visit.call(visit.service.stats, **visit.scope())
    ages = result.age_distribution.model_dump()
    charts = [
        ordered("By stage", {s.value: result.by_stage.get(s.value, 0) for s in Stage}),
        chart("By type", result.by_type),
        chart("By category", result.by_category),
        ordered("By retention", {r.value: result.by_retention.get(r.value, 0) for r in Retention}),
        ordered("By age", {words: ages[key] for key, words in AGE_BANDS}),
        chart("By user", result.by_user),
    ]
    return visit.render("stats.html", stats=result, charts=charts)


@viewing
async def export(visit: Visit) -> Response:
    scope = visit.scope()
    total = await visit.call(visit.service.count, **scope)  # checks the scope and the grant
    records = visit.service.export_records(**scope)

    def lines() -> Iterator[str]:
        for record in records:
            yield json.dumps(record, ensure_ascii=False) + "\n"

    name = "-".join(re.sub(r"[^A-Za-z0-9_.-]", "_", v)[:40] for v in scope.values()) or "all"
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="memories-{name}.jsonl"',
            "x-memory-count": str(total),
        },
    )

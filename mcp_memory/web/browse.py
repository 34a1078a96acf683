"""The first page: memories newest first, filtered by scope, type, category and stage, or the
answer to a search with the same ranking as ``search_memory`` (score and similarity shown).

Paging is by time, not by offset: the next page is the memories created at or before the last
one shown (``before``), skipping those of that very instant already shown (``skip``). The
ledger answers it from its index on ``created_at`` at any depth, where an offset of 90,000
would walk 90,000 rows, and the total shown is the whole listing's, from the ledger's running
counts, never a count of what is left (which would scan it: benchmarks/web.py measures these). Looking at memories here does not
count as an access: a person reading is not the agent recalling, and accesses raise importance
at the next consolidation.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mcp_memory.models import Category, Memory, MemoryType, Stage
from mcp_memory.web.handling import Visit, viewing

FILTER_KEYS = ("memory_type", "category", "stage")
SEARCH_HITS = 20  # a search shows the best 20: ranking more costs time, reading more does not help
CHOICES = {
    "memory_type": [m.value for m in MemoryType],
    "category": [c.value for c in Category],
    "stage": [s.value for s in Stage],
}


def _filters(visit: Visit) -> dict[str, str]:
    query = visit.request.query_params
    return {k: v for k in FILTER_KEYS if (v := (query.get(k) or "").strip())}


@viewing
async def browse(visit: Visit) -> Response:
    query = visit.request.query_params
    scope, filters = visit.scope(), _filters(visit)
    size = min(visit.page.settings.ui.page_size, visit.page.settings.limits.max_limit)
    text = (query.get("q") or "").strip()
    values: dict[str, Any] = dict(filters=filters, choices=CHOICES, q=text, hits=None)
    if text:
        hits = min(SEARCH_HITS, visit.page.settings.limits.max_limit)
        values["hits"] = await _search(visit, text, scope, filters, hits)
        return visit.render("browse.html", **values)
    before, skip = query.get("before") or None, _count(query.get("skip"))
    number = _count(query.get("page")) or 1
    listed = await visit.call(
        visit.service.list, **scope, memory_type=filters.get("memory_type"),
        category=filters.get("category"), stage=filters.get("stage"), limit=size,
        offset=skip, until=before,
    )  # fmt: skip
    memories = listed.memories
    values.update(memories=memories, total=listed.total, number=number, first=before is None)
    if len(memories) == size:
        values["next"] = {
            **scope, **filters, **_after(memories, before, skip), "page": number + 1,
        }  # fmt: skip
    return visit.render("browse.html", **values)


async def _search(
    visit: Visit, text: str, scope: dict[str, str], filters: dict[str, str], size: int
) -> list[Any]:
    stage = filters.get("stage")
    result = await visit.call(
        visit.service.search, text, **scope, memory_type=filters.get("memory_type"),
        category=filters.get("category"), limit=size, include_archived=stage == "archived",
        count_access=False,
    )  # fmt: skip
    return [h for h in result.results if stage is None or h.memory.lifecycle_stage == stage]


def _after(memories: list[Memory], before: str | None, skip: int) -> dict[str, Any]:
    """Where the next page starts: at the last memory's instant, past the ones shown."""
    last = memories[-1].created_at
    same = sum(1 for m in memories if m.created_at == last)
    if before is not None and _same_instant(before, last.isoformat()):
        same += skip
    return {"before": last.isoformat(), "skip": same}


def _same_instant(text: str, iso: str) -> bool:
    return text.replace(" ", "+") == iso


def _count(value: str | None) -> int:
    """A non-negative whole number from the query (anything else: 0)."""
    return int(value) if value and value.isdigit() and len(value) < 10 else 0

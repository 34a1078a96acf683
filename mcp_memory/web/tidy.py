"""Consolidation on the page: a preview (the dry run's actions, told in words, with the texts
they touch), a run, the past runs of the scope, and undoing one.

A preview changes nothing, so it is a GET; a run and an undo are changes (POST, CSRF). The
preview looks up the text of each memory it names, for the first ``SHOWN`` actions.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from mcp_memory.errors import MemoryNotFound
from mcp_memory.models import ConsolidateResult, ConsolidationRun, Scope
from mcp_memory.policy.access import confine
from mcp_memory.service import MemoryService
from mcp_memory.web.handling import Visit, changing, query_string, viewing

SHOWN = 200
RUNS_SHOWN = 20
COUNTS = (
    ("duplicates_merged", "duplicate merged", "duplicates merged"),
    ("redundancies_eliminated", "redundant text removed", "redundant texts removed"),
    ("importance_boosted", "importance raised", "importances raised"),
    ("decayed", "importance decayed", "importances decayed"),
    ("stages_updated", "stage moved", "stages moved"),
    ("archived", "archived", "archived"),
    ("deleted", "deleted", "deleted"),
)


def told(result: ConsolidateResult | dict[str, int]) -> str:
    """The counts of a run in words, e.g. "2 duplicates merged, 1 archived"."""
    counts = result if isinstance(result, dict) else result.model_dump()
    parts = [
        f"{n} {one if n == 1 else many}" for key, one, many in COUNTS if (n := counts.get(key))
    ]
    return ", ".join(parts) or "nothing to do"


@viewing
async def consolidation(visit: Visit) -> Response:
    scope = visit.scope()
    runs = await visit.call(_runs, visit.service, scope)
    values: dict[str, Any] = dict(runs=runs, preview=None, texts={}, told=told)
    if visit.request.query_params.get("preview"):
        preview = await visit.call(visit.service.consolidate, **scope, dry_run=True)
        if visit.page.metrics is not None:
            visit.page.metrics.consolidated(preview)
        values.update(preview=preview, shown=SHOWN)
        values["texts"] = await visit.call(_texts, visit.service, preview)
    return visit.render("consolidate.html", **values)


def _runs(service: MemoryService, scope: dict[str, str]) -> list[ConsolidationRun]:
    """The journaled runs within the scope, confined to the caller's grant (as every scope)."""
    return service.consolidator.runs_within(confine(Scope(**scope)), RUNS_SHOWN)


def _texts(service: MemoryService, result: ConsolidateResult) -> dict[str, str]:
    """The current text of every memory the first ``SHOWN`` actions name."""
    texts: dict[str, str] = {}
    for action in result.actions[:SHOWN]:
        for memory_id in (action.memory_id, *action.other_ids):
            if memory_id in texts:
                continue
            try:
                texts[memory_id] = service.get(memory_id, count_access=False).memory.content
            except MemoryNotFound:
                texts[memory_id] = ""
    return texts


@changing("consolidate")
async def run(visit: Visit) -> Response:
    scope = visit.scope(visit.form)
    result = await visit.call(visit.service.consolidate, **scope)
    if visit.page.metrics is not None:
        visit.page.metrics.consolidated(result)
    visit.session.note(f"Consolidated: {told(result)} (run {result.run_id}; undo it below).")
    return RedirectResponse("/ui/consolidate" + query_string(scope), status_code=303)


@changing("undo")
async def undo(visit: Visit) -> Response:
    scope = visit.scope(visit.form)
    run_id = visit.form.get("run_id", "")
    result = await visit.call(visit.service.consolidate, **scope, undo=run_id)
    if visit.page.metrics is not None:
        visit.page.metrics.consolidated(result)
    visit.session.note(f"Undid run {run_id}: its {told(result)} are reversed.")
    return visit.back("/ui/consolidate")

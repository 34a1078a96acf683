"""One memory: its fields and whole history, and the changes a person makes to it (edit the
text, type, category and importance; delete; restore an archived one).

Every change is a ``MemoryService`` call, so history, redaction, limits and the index queue
apply exactly as for the tools. An edit sends only the fields that differ from the memory as
shown, so an untouched form changes nothing and records no event. A deleted memory's history
stays readable (to a caller whose token is not bound to a scope, as for ``memory_history``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.responses import RedirectResponse, Response

from mcp_memory.errors import InvalidInput, MemoryNotFound
from mcp_memory.models import Category, Memory, MemoryType, Stage
from mcp_memory.web.handling import Visit, changing, query_string, status_of, viewing

EDITABLE = ("content", "memory_type", "category", "importance")
CHOICES = {"memory_type": [m.value for m in MemoryType], "category": [c.value for c in Category]}


@viewing
async def show(visit: Visit) -> Response:
    return await _page(visit, visit.request.path_params["memory_id"])


async def _page(
    visit: Visit, memory_id: str, draft: dict[str, str] | None = None,
    error: str | None = None, status: int = 200,
) -> Response:  # fmt: skip
    memory: Memory | None = None
    with contextlib.suppress(MemoryNotFound):  # deleted: its history may still be shown
        memory = (await visit.call(visit.service.get, memory_id, count_access=False)).memory
    history = (await visit.call(visit.service.history, memory_id)).events
    return visit.render(
        "memory.html", status, memory=memory, memory_id=memory_id, history=history,
        draft=draft or _form_of(memory), choices=CHOICES, error=error,
        archived=memory is not None and memory.lifecycle_stage == Stage.archived,
    )  # fmt: skip


def _form_of(memory: Memory | None) -> dict[str, str]:
    if memory is None:
        return {}
    return {
        "content": memory.content,
        "memory_type": memory.memory_type.value,
        "category": memory.category.value,
        "importance": f"{memory.importance_score:g}",
    }


def changes(memory: Memory, form: dict[str, str]) -> dict[str, Any]:
    """The update arguments for the fields the form changes (``InvalidInput`` if malformed)."""
    shown = _form_of(memory)
    changed: dict[str, Any] = {}
    for key in EDITABLE:
        value = form.get(key)
        if value is None or value == shown[key]:
            continue
        if key == "content":
            value = value.replace("\r\n", "\n")
            if value == memory.content:
                continue
        if key == "importance":
            try:
                number = float(value)
            except ValueError:
                raise InvalidInput(
                    f"importance must be a number from 0 to 1, e.g. 0.7, not {value[:40]!r}"
                ) from None
            if number == memory.importance_score:
                continue
            changed[key] = number
        else:
            changed[key] = value
    return changed


@changing("edit")
async def edit(visit: Visit) -> Response:
    memory_id = visit.request.path_params["memory_id"]
    service = visit.service
    try:
        memory = (await visit.call(service.get, memory_id, count_access=False)).memory
        found = changes(memory, visit.form)
        if not found:
            visit.session.note("Nothing to change: the form matches the memory.")
            return _to(memory_id)
        result = await visit.call(service.update, memory_id, **found)
    except (InvalidInput, MemoryNotFound) as exc:
        draft = {k: visit.form.get(k, "") for k in EDITABLE}
        return await _page(visit, memory_id, draft, str(exc), status_of(exc))
    note = f"Saved: version {result.memory.version} ({', '.join(sorted(found))} changed)."
    if result.redacted:
        note += f" Secrets were cut out before storing: {', '.join(result.redacted)}."
    visit.session.note(note)
    return _to(memory_id)


@changing("delete")
async def delete(visit: Visit) -> Response:
    memory_id = visit.request.path_params["memory_id"]
    await visit.call(visit.service.delete, memory_id)
    visit.session.note(f"Deleted memory {memory_id}; its history keeps a DELETE event.")
    return RedirectResponse("/ui/" + query_string(visit.scope(visit.form)), status_code=303)


@changing("restore")
async def restore(visit: Visit) -> Response:
    memory_id = visit.request.path_params["memory_id"]
    await visit.call(visit.service.update, memory_id, lifecycle_stage=Stage.active.value)
    visit.session.note("Restored: the memory is active again and back in search.")
    return _to(memory_id)


def _to(memory_id: str) -> RedirectResponse:
    return RedirectResponse(f"/ui/memory/{memory_id}", status_code=303)

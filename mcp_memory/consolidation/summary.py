"""A consolidation run told in one line, for a person or an agent to read.

The same sentence ends the ``consolidate`` tool's reply, the ``mcp-memory consolidate`` command's
output and the log of a scheduled run; only the way to undo differs (a tool call or a command),
so the caller passes its own ``undo_hint``. Plain text from a ``ConsolidateResult``: no MCP
SDK, so the command line prints it without importing the server.
"""

from __future__ import annotations

from mcp_memory.models import ConsolidateResult

# (field of ConsolidateResult, verb of a dry run, verb of a real run, noun after the count)
_COUNTS = (
    ("duplicates_merged", "Would merge", "Merged", " duplicates"),
    ("redundancies_eliminated", "remove", "removed", " redundant"),
    ("importance_boosted", "boost", "boosted", ""),
    ("decayed", "decay", "decayed", ""),
    ("stages_updated", "move", "moved", " stages"),
    ("archived", "archive", "archived", ""),
    ("deleted", "delete", "deleted", ""),
)


def consolidate_summary(
    result: ConsolidateResult, undo_hint: str = "consolidate(undo='{}')"
) -> str:
    """One line saying what a consolidate call did (or would do, or undid); ``undo_hint`` is
    how to undo it, with ``{}`` standing for the run id."""
    done = not result.dry_run
    counts = ", ".join(
        f"{past if done else present} {getattr(result, field)}{noun}"
        for field, present, past, noun in _COUNTS
    )
    if result.undone:
        return f"Undid run {result.run_id}, which {counts[0].lower()}{counts[1:]}."
    if result.dry_run:
        return f"{counts} (dry run: nothing changed)."
    return f"{counts} (run {result.run_id}; undo with {undo_hint.format(result.run_id)})."

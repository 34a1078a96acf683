"""Session context: which memories stand near a candidate in its session."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_memory.store.records import Session


def neighbours_in(
    sessions: Sequence[Session], ids: Sequence[str], window: int
) -> dict[str, list[tuple[int, str]]]:
    """For each of ``ids`` found in a session, the members within ``window`` places of it."""
    wanted = set(ids)
    out: dict[str, list[tuple[int, str]]] = {}
    if window <= 0:
        return out
    for session in sessions:
        members = session.members
        for pos, memory_id in enumerate(members):
            if memory_id not in wanted:
                continue
            lo, hi = max(0, pos - window), min(len(members), pos + window + 1)
            around = [(i - pos, members[i]) for i in range(lo, hi) if i != pos]
            if around:
                out[memory_id] = around
    return out

"""Reading memories and their history: by id, by filter (a page, a count, every id), in
batches for export, what ranking reads of each candidate, and the stats (the contract of
``mcp_memory.ledger.reads``). Many ids travel as one array parameter (``= ANY(%s)``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from mcp_memory.models import HistoryEvent, ListOrder, Memory
from mcp_memory.postgres.database import Part
from mcp_memory.postgres.filters import ORDER_SQL, counts_answer, counts_cover, render
from mcp_memory.postgres.rows import (
    CANDIDATE_COLUMNS,
    COLUMNS,
    EVENT_COLUMNS,
    to_candidate,
    to_event,
    to_memory,
)
from mcp_memory.store.records import CandidateRow, MemoryFilter, readable


class MemoryReader(Part):
    """Every read of memories and their history; nothing here writes."""

    _recent: threading.local
    """What this thread read last (see ``KeywordIndex``); created by ``PostgresLedger``."""

    def get(self, memory_id: str) -> Memory | None:
        self._settle()
        rows = self._read(f"SELECT {COLUMNS} FROM memories WHERE id = %s", (memory_id,))
        return to_memory(rows[0]) if rows else None

    def get_many(self, ids: Sequence[str], flt: MemoryFilter | None = None) -> dict[str, Memory]:
        """The memories with these ids (that also pass the filter, if one is given)."""
        if not ids:
            return {}
        self._settle()
        where, params = render(flt or MemoryFilter())
        rows = self._read(
            f"SELECT {COLUMNS} FROM memories WHERE id = ANY(%s) AND {where}", [list(ids), *params]
        )
        return {memory.id: memory for memory in readable(rows, to_memory)}

    def filter_ids(self, ids: Sequence[str], flt: MemoryFilter) -> set[str]:
        """The subset of ids whose memories exist and pass the filter."""
        if not ids:
            return set()
        where, params = render(flt)
        rows = self._read(
            f"SELECT id FROM memories WHERE id = ANY(%s) AND {where}", [list(ids), *params]
        )
        return {row[0] for row in rows}

    def query(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> tuple[list[Memory], int]:
        """One page of matching memories and the total count."""
        return self.page(flt, order, limit, offset), self.count(flt)

    def page(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> list[Memory]:
        """One page of matching memories, without counting them."""
        self._settle()
        where, params = render(flt)
        rows = self._read(
            f"SELECT {COLUMNS} FROM memories WHERE {where} ORDER BY {ORDER_SQL[order]} "
            "LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        return readable(rows, to_memory)

    def count(self, flt: MemoryFilter) -> int:
        """How many memories match; from the running counts when they can tell (no scan)."""
        where, params = render(flt)
        if counts_answer(flt):
            sql = f"SELECT coalesce(sum(n), 0) FROM memory_counts WHERE {where}"
        else:
            sql = f"SELECT count(*) FROM memories WHERE {where}"
        count = int(self._read(sql, params)[0][0])
        if flt == MemoryFilter(scope=flt.scope):  # the scope's size: the keyword search's idf
            self._recent.total = (
                (flt.scope.user_id, flt.scope.agent_id, flt.scope.session_id),
                count,
            )
        return count

    def ids(self, flt: MemoryFilter, limit: int | None = None) -> list[str]:
        where, params = render(flt)
        sql = f"SELECT id FROM memories WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row[0] for row in self._read(sql, params)]

    def all_memories(self, flt: MemoryFilter) -> list[Memory]:
        self._settle()
        where, params = render(flt)
        sql = f"SELECT {COLUMNS} FROM memories WHERE {where} ORDER BY created_at, seq"
        return readable(self._read(sql, params), to_memory)

    def iter_memories(self, flt: MemoryFilter, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every matching memory in insertion order, a batch at a time (keyset pagination)."""
        self._settle()
        where, params = render(flt)
        last = 0
        while True:
            rows = self._read(
                f"SELECT seq, {COLUMNS} FROM memories WHERE seq > %s AND {where} "
                "ORDER BY seq LIMIT %s",
                [last, *params, batch],
            )
            if not rows:
                return
            last = rows[-1][0]
            yield readable((row[1:] for row in rows), to_memory)

    def history(self, memory_id: str) -> list[HistoryEvent]:
        rows = self._read(
            f"SELECT {EVENT_COLUMNS} FROM history WHERE memory_id = %s ORDER BY seq", (memory_id,)
        )
        return [to_event(row) for row in rows]

    def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The history of each of these ids, oldest first."""
        out: dict[str, list[HistoryEvent]] = {i: [] for i in ids}
        if not ids:
            return out
        rows = self._read(
            f"SELECT memory_id, {EVENT_COLUMNS} FROM history WHERE memory_id = ANY(%s) "
            "ORDER BY seq",
            (list(ids),),
        )
        for row in rows:
            out[row[0]].append(to_event(row[1:]))
        return out

    def has_history(self, memory_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM history WHERE memory_id = %s LIMIT 1", (memory_id,)))

    def candidates(self, ids: Sequence[str], flt: MemoryFilter) -> dict[str, CandidateRow]:
        """What ranking reads of each memory that passes the filter; lighter than ``get_many``
        (a search ranks hundreds of memories and returns ten)."""
        if not ids:
            return {}
        where, params = render(flt)
        rows = self._read(
            f"SELECT {CANDIDATE_COLUMNS} FROM memories WHERE id = ANY(%s) AND {where}",
            [list(ids), *params],
        )
        return {row[0]: to_candidate(row) for row in rows}

    def stats(self, flt: MemoryFilter) -> dict[str, Any]:
        """Counts by user, type, category, stage and retention; average importance.

        Read from the running counts (``memory_counts``) when the filter is a user/agent scope;
        a session scope or other filters take one grouped pass over the matching memories.
        """
        columns = "user_id, memory_type, category, lifecycle_stage, retention"
        where, params = render(flt)
        if counts_cover(flt):
            sql = (
                f"SELECT {columns}, sum(n), sum(importance_sum) FROM memory_counts "
                f"WHERE {where} AND n > 0 GROUP BY {columns}"
            )
        else:
            sql = (
                f"SELECT {columns}, count(*), sum(importance_score) FROM memories "
                f"WHERE {where} GROUP BY {columns}"
            )
        keys = ("by_user", "by_type", "by_category", "by_stage", "by_retention")
        out: dict[str, Any] = {key: {} for key in keys}
        total, importance = 0, 0.0
        for row in self._read(sql, params):
            count = int(row[5])
            for key, value in zip(keys, row[:5], strict=True):
                out[key][value] = out[key].get(value, 0) + count
            total += count
            importance += row[6] or 0.0
        out = {key: dict(sorted(counts.items())) for key, counts in out.items()}
        out["total"] = total
        out["average_importance"] = importance / total if total else 0.0
        return out

    def count_created_since(self, flt: MemoryFilter, moments: Sequence[datetime]) -> list[int]:
        """How many matching memories were created at or after each moment (one pass)."""
        if not moments:
            return []
        where, params = render(flt)
        counted = ", ".join("count(*) FILTER (WHERE created_at >= %s)" for _ in moments)
        row = self._read(
            f"SELECT {counted} FROM memories WHERE {where} AND created_at >= %s",
            [*moments, *params, min(moments)],
        )[0]
        return [int(n) for n in row]

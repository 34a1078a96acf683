"""Reading memories and their history: by id, by filter (a page, a count, every id), in
batches for export, what ranking reads of each candidate, and the stats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from mcp_memory.clock import to_iso
from mcp_memory.ledger.connection import Connection, chunked, marks
from mcp_memory.ledger.filters import ORDER_SQL, counts_answer, counts_cover, render
from mcp_memory.ledger.rows import COLUMNS, to_candidate, to_event, to_memory
from mcp_memory.models import HistoryEvent, ListOrder, Memory
from mcp_memory.store.records import CandidateRow, MemoryFilter, readable


class MemoryReader(Connection):
    """Every read of memories and their history; nothing here writes."""

    def get(self, memory_id: str) -> Memory | None:
        rows = self._read(f"SELECT {COLUMNS} FROM memories WHERE id = ?", (memory_id,))
        return to_memory(rows[0]) if rows else None

    def get_many(self, ids: Sequence[str], flt: MemoryFilter | None = None) -> dict[str, Memory]:
        """The memories with these ids (that also pass the filter, if one is given)."""
        where, params = render(flt or MemoryFilter())
        found: dict[str, Memory] = {}
        for chunk in chunked(ids):
            sql = f"SELECT {COLUMNS} FROM memories WHERE id IN ({marks(len(chunk))}) AND {where}"
            rows = self._read(sql, [*chunk, *params])
            found.update((memory.id, memory) for memory in readable(rows, to_memory))
        return found

    def filter_ids(self, ids: Sequence[str], flt: MemoryFilter) -> set[str]:
        """The subset of ids whose memories exist and pass the filter."""
        where, params = render(flt)
        kept: set[str] = set()
        for chunk in chunked(ids):
            sql = f"SELECT id FROM memories WHERE id IN ({marks(len(chunk))}) AND {where}"
            kept.update(row[0] for row in self._read(sql, [*chunk, *params]))
        return kept

    def query(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> tuple[list[Memory], int]:
        """One page of matching memories and the total count."""
        return self.page(flt, order, limit, offset), self.count(flt)

    def page(
        self, flt: MemoryFilter, order: ListOrder, limit: int, offset: int = 0
    ) -> list[Memory]:
        """One page of matching memories, without counting them."""
        where, params = render(flt)
        rows = self._read(
            f"SELECT {COLUMNS} FROM memories WHERE {where} ORDER BY {ORDER_SQL[order]} "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return readable(rows, to_memory)

    def count(self, flt: MemoryFilter) -> int:
        """How many memories match; from the running counts when they can tell (no scan)."""
        where, params = render(flt)
        if counts_answer(flt):
            sql = f"SELECT COALESCE(SUM(n), 0) FROM memory_counts WHERE {where}"
        else:
            sql = f"SELECT COUNT(*) FROM memories WHERE {where}"
        return self._read(sql, params)[0][0]

    def ids(self, flt: MemoryFilter, limit: int | None = None) -> list[str]:
        where, params = render(flt)
        sql = f"SELECT id FROM memories WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [row[0] for row in self._read(sql, params)]

    def all_memories(self, flt: MemoryFilter) -> list[Memory]:
        where, params = render(flt)
        sql = f"SELECT {COLUMNS} FROM memories WHERE {where} ORDER BY created_at, seq"
        return readable(self._read(sql, params), to_memory)

    def iter_memories(self, flt: MemoryFilter, batch: int = 1000) -> Iterator[list[Memory]]:
        """Every matching memory in insertion order, a batch at a time (keyset pagination)."""
        where, params = render(flt)
        last = 0
        while True:
            rows = self._read(
                f"SELECT seq, {COLUMNS} FROM memories WHERE seq > ? AND {where} "
                "ORDER BY seq LIMIT ?",
                [last, *params, batch],
            )
            if not rows:
                return
            last = rows[-1]["seq"]
            yield readable(rows, to_memory)

    def history(self, memory_id: str) -> list[HistoryEvent]:
        rows = self._read(
            "SELECT event, at, content, metadata, importance, details FROM history "
            "WHERE memory_id = ? ORDER BY seq",
            (memory_id,),
        )
        return [to_event(row) for row in rows]

    def history_many(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """The history of each of these ids, oldest first."""
        out: dict[str, list[HistoryEvent]] = {i: [] for i in ids}
        for chunk in chunked(ids):
            rows = self._read(
                "SELECT memory_id, event, at, content, metadata, importance, details FROM history "
                f"WHERE memory_id IN ({marks(len(chunk))}) ORDER BY seq",
                chunk,
            )
            for row in rows:
                out[row["memory_id"]].append(to_event(row))
        return out

    def has_history(self, memory_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM history WHERE memory_id = ? LIMIT 1", (memory_id,)))

    def candidates(self, ids: Sequence[str], flt: MemoryFilter) -> dict[str, CandidateRow]:
        """What ranking reads of each memory that passes the filter; lighter than ``get_many``
        (a search ranks hundreds of memories and returns ten)."""
        where, params = render(flt)
        found: dict[str, CandidateRow] = {}
        for chunk in chunked(ids):
            rows = self._read(
                "SELECT id, content, importance_score, created_at, session_id, seq FROM memories "
                f"WHERE id IN ({marks(len(chunk))}) AND {where}",
                [*chunk, *params],
            )
            found.update(readable(rows, to_candidate))
        return found

    def stats(self, flt: MemoryFilter) -> dict[str, Any]:
        """Counts by user, type, category, stage and retention; average importance.

        Read from the running counts (``memory_counts``) when the filter is a user/agent scope;
        a session scope or other filters take one grouped pass over the matching memories.
        """
        columns = "user_id, memory_type, category, lifecycle_stage, retention"
        where, params = render(flt)
        if counts_cover(flt):
            sql = (
                f"SELECT {columns}, SUM(n), SUM(importance_sum) FROM memory_counts "
                f"WHERE {where} AND n > 0 GROUP BY {columns}"
            )
        else:
            sql = (
                f"SELECT {columns}, COUNT(*), SUM(importance_score) FROM memories "
                f"WHERE {where} GROUP BY {columns}"
            )
        keys = ("by_user", "by_type", "by_category", "by_stage", "by_retention")
        out: dict[str, Any] = {key: {} for key in keys}
        total, importance = 0, 0.0
        for row in self._read(sql, params):
            count = row[5]
            for key, value in zip(keys, row[:5], strict=True):
                out[key][value] = out[key].get(value, 0) + count
            total += count
            importance += row[6] or 0.0
        out = {key: dict(sorted(counts.items())) for key, counts in out.items()}
        out["total"] = total
        out["average_importance"] = importance / total if total else 0.0
        return out

    def count_created_since(self, flt: MemoryFilter, moments: Sequence[datetime]) -> list[int]:
        """How many matching memories were created at or after each moment."""
        where, params = render(flt)
        return [
            self._read(
                f"SELECT COUNT(*) FROM memories WHERE {where} AND created_at >= ?",
                [*params, to_iso(moment)],
            )[0][0]
            for moment in moments
        ]

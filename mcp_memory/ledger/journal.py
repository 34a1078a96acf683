"""The lifecycle record: the access log and past lifecycle events (what consolidation plans
from), and the consolidation journal (each run, and each memory's row before it, for undo).

A run's writes and its journal are stored in one transaction, and only if no memory it
touched changed since it was planned (its version is checked): otherwise ``Conflict``, and
nothing changes. An undo is checked and applied the same way.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from mcp_memory.clock import from_iso, to_iso
from mcp_memory.errors import Conflict
from mcp_memory.ledger.connection import Connection, chunked, marks
from mcp_memory.ledger.outbox import enqueue
from mcp_memory.ledger.rows import delete_row, insert_row, record_event, to_run, update_row
from mcp_memory.models import EventKind, HistoryEvent, Memory, Scope
from mcp_memory.store.records import JournalEntry, RowWrite, RunRecord

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock of the consolidator alone
    fcntl = None  # type: ignore[assignment]


class Journal(Connection):
    """Access times, lifecycle events, and journaled consolidation runs."""

    def accesses_since(self, ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """The access times (search hits and gets) of these memories at or after ``since``."""
        found: dict[str, list[datetime]] = {}
        for chunk in chunked(ids):
            rows = self._read(
                f"SELECT memory_id, at FROM access_log WHERE memory_id IN "
                f"({marks(len(chunk))}) AND at >= ? ORDER BY at",
                [*chunk, to_iso(since)],
            )
            for row in rows:
                found.setdefault(row[0], []).append(from_iso(row[1]))
        return found

    def lifecycle_events(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """RESTORE, ARCHIVE and UPDATE events of these memories, oldest first, leaving out
        those written by an undo and those of consolidation runs that were undone."""
        undone_sql = "SELECT run_id FROM consolidation_runs WHERE undone_at IS NOT NULL"
        undone = {row[0] for row in self._read(undone_sql)}
        found: dict[str, list[HistoryEvent]] = {}
        for chunk in chunked(ids):
            rows = self._read(
                "SELECT memory_id, event, at, details FROM history WHERE memory_id IN "
                f"({marks(len(chunk))}) AND event IN ('RESTORE', 'ARCHIVE', 'UPDATE') "
                "ORDER BY seq",
                chunk,
            )
            for row in rows:
                details = json.loads(row["details"])
                if "undo" in details or details.get("run_id") in undone:
                    continue
                event = HistoryEvent(
                    event=EventKind(row["event"]), at=from_iso(row["at"]), details=details
                )
                found.setdefault(row["memory_id"], []).append(event)
        return found

    def record_run(
        self, run: RunRecord, writes: Sequence[RowWrite], journal: Sequence[JournalEntry]
    ) -> None:
        """Apply a consolidation run's writes and journal it, in one transaction.

        Raises ``Conflict`` (changing nothing) if a memory changed since the run was planned.
        """
        with self.transaction() as conn:
            counts = expect_versions(conn, {e.prior.id: e.prior.version for e in journal})
            apply_writes(conn, writes)
            # accesses counted while the run was planned are kept, not overwritten
            conn.executemany(
                "UPDATE memories SET access_count = access_count + ? WHERE id = ?",
                [
                    (counts[e.prior.id] - e.prior.access_count, e.prior.id)
                    for e in journal
                    if e.final_version is not None and counts[e.prior.id] > e.prior.access_count
                ],
            )
            conn.execute(
                "INSERT INTO consolidation_runs (run_id, at, scope, counts, summary) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    to_iso(run.at),
                    json.dumps(run.scope),
                    json.dumps(run.counts),
                    json.dumps(run.summary),
                ),
            )
            rows = [
                (run.run_id, e.prior.id, e.prior.model_dump_json(), e.final_version, e.final_count)
                for e in journal
            ]
            conn.executemany(
                "INSERT INTO consolidation_journal (run_id, memory_id, prior, final_version, "
                "final_access_count) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def run(self, run_id: str) -> tuple[RunRecord, list[JournalEntry]] | None:
        """A journaled run and, per memory it touched, the prior row and final version."""
        rows = self._read(
            "SELECT run_id, at, scope, counts, undone_at, summary FROM consolidation_runs "
            "WHERE run_id = ?",
            (run_id,),
        )
        if not rows:
            return None
        entries = self._read(
            "SELECT prior, final_version, final_access_count FROM consolidation_journal "
            "WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        journal = [
            JournalEntry(Memory.model_validate_json(row[0]), row[1], row[2]) for row in entries
        ]
        return to_run(rows[0]), journal

    def recent_runs(self, limit: int = 50) -> list[RunRecord]:
        """The latest journaled runs, newest first (without their ``summary``)."""
        rows = self._read(
            "SELECT run_id, at, scope, counts, undone_at FROM consolidation_runs "
            "ORDER BY at DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return [to_run(row) for row in rows]

    def undo_run(
        self, run_id: str, writes: Sequence[RowWrite], expect: dict[str, int | None], at: datetime
    ) -> None:
        """Apply the writes that reverse a run and mark it undone, in one transaction.

        ``expect`` maps each memory to the version it must still have (None: must be absent);
        raises ``Conflict`` (changing nothing) otherwise, or if the run was undone meanwhile.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT undone_at FROM consolidation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                raise Conflict(f"consolidation run '{run_id}' was already undone or pruned")
            expect_versions(conn, expect)
            apply_writes(conn, writes)
            conn.execute(
                "UPDATE consolidation_runs SET undone_at = ? WHERE run_id = ?", (to_iso(at), run_id)
            )

    def prune_lifecycle(self, accesses_before: datetime, runs_before: datetime) -> None:
        """Forget access times and journaled runs older than the given moments."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM access_log WHERE at < ?", (to_iso(accesses_before),))
            old = "SELECT run_id FROM consolidation_runs WHERE at < ?"
            conn.execute(
                f"DELETE FROM consolidation_journal WHERE run_id IN ({old})",
                (to_iso(runs_before),),
            )
            conn.execute("DELETE FROM consolidation_runs WHERE at < ?", (to_iso(runs_before),))

    def import_runs(self, runs: Sequence[tuple[RunRecord, Sequence[JournalEntry]]]) -> int:
        """Store journaled runs as they are, skipping those already stored (a copied store)."""
        stored = 0
        with self.transaction() as conn:
            for run, journal in runs:
                found = conn.execute(
                    "SELECT 1 FROM consolidation_runs WHERE run_id = ?", (run.run_id,)
                ).fetchone()
                if found is not None:
                    continue
                conn.execute(
                    "INSERT INTO consolidation_runs (run_id, at, scope, counts, summary, "
                    "undone_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        run.run_id,
                        to_iso(run.at),
                        json.dumps(run.scope),
                        json.dumps(run.counts),
                        json.dumps(run.summary),
                        to_iso(run.undone_at) if run.undone_at else None,
                    ),
                )
                conn.executemany(
                    "INSERT INTO consolidation_journal (run_id, memory_id, prior, final_version, "
                    "final_access_count) VALUES (?, ?, ?, ?, ?)",
                    [
                        (
                            run.run_id,
                            e.prior.id,
                            e.prior.model_dump_json(),
                            e.final_version,
                            e.final_count,
                        )
                        for e in journal
                    ],
                )
                stored += 1
        return stored

    def consolidating(self, scope: Scope) -> AbstractContextManager[None]:
        """The store's consolidation lock: ``flock`` on a file beside the ledger, for every
        scope at once (the processes sharing a SQLite file are on one host, and runs are
        rare)."""
        return self._consolidating(scope)

    @contextmanager
    def _consolidating(self, scope: Scope) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".consolidating")
        with open(lock_path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            yield  # closing the file releases the lock


def expect_versions(conn: sqlite3.Connection, expect: dict[str, int | None]) -> dict[str, int]:
    """Raise ``Conflict`` unless each memory has the expected version (None: is absent);
    returns the access counts of those present."""
    current: dict[str, int] = {}
    counts: dict[str, int] = {}
    for chunk in chunked(list(expect)):
        rows = conn.execute(
            f"SELECT id, version, access_count FROM memories WHERE id IN ({marks(len(chunk))})",
            chunk,
        ).fetchall()
        current.update((row[0], row[1]) for row in rows)
        counts.update((row[0], row[2]) for row in rows)
    changed = sorted(i for i, version in expect.items() if current.get(i) != version)
    if changed:
        raise Conflict(
            f"memories {', '.join(changed[:5])} changed since this was planned (an update, "
            "a delete or another consolidation run); nothing was changed: run it again"
        )
    return counts


def apply_writes(conn: sqlite3.Connection, writes: Sequence[RowWrite]) -> None:
    """Each row change with its history event and, if it asks, its index-queue entry."""
    for write in writes:
        if write.op == "insert":
            insert_row(conn, write.memory, write.content_hash)
        elif write.op == "delete":
            delete_row(conn, write.memory.id)
        else:
            update_row(conn, write.memory, write.content_hash)
        record_event(conn, write.memory, write.event, write.at, write.details)
        if write.index is not None:
            enqueue(conn, write.memory.id, write.index, write.at)

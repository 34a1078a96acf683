"""The lifecycle record: the access log and past lifecycle events (what consolidation plans
from), and the consolidation journal (each run, and each memory's row before it, for undo);
the contract of ``mcp_memory.ledger.journal``.

A run's writes and its journal are stored in one transaction, and only if no memory it
touched changed since it was planned: its rows are locked (in id order) and their versions
checked first, so a concurrent update on another server either commits before (and the run
is refused with ``Conflict``) or waits for the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime

from mcp_memory.errors import Conflict
from mcp_memory.models import EventKind, HistoryEvent, Memory, Scope
from mcp_memory.postgres.database import Conn, Part, advisory_key
from mcp_memory.postgres.outbox import enqueue
from mcp_memory.postgres.rows import (
    delete_row,
    insert_row,
    record_event,
    to_run,
    update_row,
    utc,
)
from mcp_memory.store.records import JournalEntry, RowWrite, RunRecord


class Journal(Part):
    """Access times, lifecycle events, and journaled consolidation runs."""

    def accesses_since(self, ids: Sequence[str], since: datetime) -> dict[str, list[datetime]]:
        """The access times (search hits and gets) of these memories at or after ``since``."""
        found: dict[str, list[datetime]] = {}
        if not ids:
            return found
        self._settle()
        rows = self._read(
            "SELECT memory_id, at FROM access_log WHERE memory_id = ANY(%s) AND at >= %s "
            "ORDER BY at",
            (list(ids), since),
        )
        for memory_id, at in rows:
            found.setdefault(memory_id, []).append(utc(at))
        return found

    def lifecycle_events(self, ids: Sequence[str]) -> dict[str, list[HistoryEvent]]:
        """RESTORE, ARCHIVE and UPDATE events of these memories, oldest first, leaving out
        those written by an undo and those of consolidation runs that were undone."""
        found: dict[str, list[HistoryEvent]] = {}
        if not ids:
            return found
        undone_sql = "SELECT run_id FROM consolidation_runs WHERE undone_at IS NOT NULL"
        undone = {row[0] for row in self._read(undone_sql)}
        rows = self._read(
            "SELECT memory_id, event, at, details FROM history WHERE memory_id = ANY(%s) "
            "AND event IN ('RESTORE', 'ARCHIVE', 'UPDATE') ORDER BY seq",
            (list(ids),),
        )
        for memory_id, event, at, text in rows:
            details = json.loads(text)
            if "undo" in details or details.get("run_id") in undone:
                continue
            found.setdefault(memory_id, []).append(
                HistoryEvent(event=EventKind(event), at=utc(at), details=details)
            )
        return found

    def record_run(
        self, run: RunRecord, writes: Sequence[RowWrite], journal: Sequence[JournalEntry]
    ) -> None:
        """Apply a consolidation run's writes and journal it, in one transaction.

        Raises ``Conflict`` (changing nothing) if a memory changed since the run was planned.
        """

        def apply(conn: Conn) -> None:
            counts = expect_versions(conn, {e.prior.id: e.prior.version for e in journal})
            apply_writes(conn, writes)
            # accesses counted while the run was planned are kept, not overwritten
            gained = [
                (counts[e.prior.id] - e.prior.access_count, e.prior.id)
                for e in journal
                if e.final_version is not None and counts[e.prior.id] > e.prior.access_count
            ]
            if gained:
                conn.cursor().executemany(
                    "UPDATE memories SET access_count = access_count + %s WHERE id = %s", gained
                )
            conn.execute(
                "INSERT INTO consolidation_runs (run_id, at, scope, counts, summary) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    run.run_id,
                    run.at,
                    json.dumps(run.scope),
                    json.dumps(run.counts),
                    json.dumps(run.summary),
                ),
            )
            _journal(conn, run.run_id, journal)

        self.db.write(apply)

    def run(self, run_id: str) -> tuple[RunRecord, list[JournalEntry]] | None:
        """A journaled run and, per memory it touched, the prior row and final version."""
        rows = self._read(
            "SELECT run_id, at, scope, counts, undone_at, summary FROM consolidation_runs "
            "WHERE run_id = %s",
            (run_id,),
        )
        if not rows:
            return None
        entries = self._read(
            "SELECT prior, final_version, final_access_count FROM consolidation_journal "
            "WHERE run_id = %s ORDER BY seq",
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
            "ORDER BY at DESC, seq DESC LIMIT %s",
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

        def undo(conn: Conn) -> None:
            row = conn.execute(
                "SELECT undone_at FROM consolidation_runs WHERE run_id = %s FOR UPDATE", (run_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                raise Conflict(f"consolidation run '{run_id}' was already undone or pruned")
            expect_versions(conn, expect)
            apply_writes(conn, writes)
            conn.execute(
                "UPDATE consolidation_runs SET undone_at = %s WHERE run_id = %s", (at, run_id)
            )

        self.db.write(undo)

    def prune_lifecycle(self, accesses_before: datetime, runs_before: datetime) -> None:
        """Forget access times and journaled runs older than the given moments."""

        def prune(conn: Conn) -> None:
            conn.execute("DELETE FROM access_log WHERE at < %s", (accesses_before,))
            conn.execute(
                "DELETE FROM consolidation_journal WHERE run_id IN "
                "(SELECT run_id FROM consolidation_runs WHERE at < %s)",
                (runs_before,),
            )
            conn.execute("DELETE FROM consolidation_runs WHERE at < %s", (runs_before,))

        self.db.write(prune)

    def import_runs(self, runs: Sequence[tuple[RunRecord, Sequence[JournalEntry]]]) -> int:
        """Store journaled runs as they are, skipping those already stored (a copied store)."""

        def store(conn: Conn) -> int:
            stored = 0
            for run, journal in runs:
                inserted = conn.execute(
                    "INSERT INTO consolidation_runs (run_id, at, scope, counts, summary, "
                    "undone_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING "
                    "RETURNING 1",
                    (
                        run.run_id,
                        run.at,
                        json.dumps(run.scope),
                        json.dumps(run.counts),
                        json.dumps(run.summary),
                        run.undone_at,
                    ),
                ).fetchone()
                if inserted is None:
                    continue
                _journal(conn, run.run_id, journal)
                stored += 1
            return stored

        return self.db.write(store)

    def consolidating(self, scope: Scope) -> AbstractContextManager[None]:
        """The scope's consolidation lock across every server: advisory locks held by a
        session of its own for the whole run (it spans several transactions). A run within
        a user's scope shares the store's lock and holds the user's; a run without a user
        holds the store's alone: runs of different users go side by side, a run over
        everything waits for them all."""
        return self._consolidating(scope)

    @contextmanager
    def _consolidating(self, scope: Scope) -> Iterator[None]:
        with self.db.connect() as conn:
            store = advisory_key(f"{self.db.schema}:consolidate")
            if scope.user_id is None:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [store])
            else:
                user = advisory_key(f"{self.db.schema}:consolidate:{scope.user_id}")
                conn.execute("SELECT pg_advisory_lock_shared(hashtextextended(%s, 0))", [store])
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [user])
            yield  # closing the session releases its locks


def _journal(conn: Conn, run_id: str, journal: Sequence[JournalEntry]) -> None:
    if journal:
        conn.cursor().executemany(
            "INSERT INTO consolidation_journal (run_id, memory_id, prior, final_version, "
            "final_access_count) VALUES (%s, %s, %s, %s, %s)",
            [
                (run_id, e.prior.id, e.prior.model_dump_json(), e.final_version, e.final_count)
                for e in journal
            ],
        )


def expect_versions(conn: Conn, expect: dict[str, int | None]) -> dict[str, int]:
    """Raise ``Conflict`` unless each memory has the expected version (None: is absent);
    returns the access counts of those present. The rows are locked until the transaction
    ends, in id order."""
    rows = conn.execute(
        "SELECT id, version, access_count FROM memories WHERE id = ANY(%s) ORDER BY id "
        "FOR NO KEY UPDATE",
        (sorted(expect),),
    ).fetchall()
    current = {row[0]: row[1] for row in rows}
    changed = sorted(i for i, version in expect.items() if current.get(i) != version)
    if changed:
        raise Conflict(
            f"memories {', '.join(changed[:5])} changed since this was planned (an update, "
            "a delete or another consolidation run); nothing was changed: run it again"
        )
    return {row[0]: row[2] for row in rows}


def apply_writes(conn: Conn, writes: Sequence[RowWrite]) -> None:
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

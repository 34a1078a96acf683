"""A store written by an earlier version, with years before 1000 stored unpadded
(``999-06-01T...``) in every date column: opening it pads them, so date filters sort right."""

import sqlite3
from datetime import UTC, datetime

from mcp_memory.ledger import Ledger
from mcp_memory.ledger.migrations import MIGRATIONS, split_sql
from mcp_memory.ledger.rows import INSERT_EVENT, INSERT_MEMORY
from mcp_memory.models import Scope
from mcp_memory.store.records import MemoryFilter

PADDING = next(
    number for number, m in enumerate(MIGRATIONS) if m.name == "dates before year 1000 zero-padded"
)
OLD, OLDER, NEW = (
    "999-06-01T00:00:00.000000+00:00",
    "5-01-02T00:00:00.000000+00:00",
    ("2024-05-08T00:00:00.000000+00:00"),
)
DATE_COLUMNS = (
    ("memories", "created_at"), ("memories", "updated_at"), ("memories", "last_accessed"),
    ("history", "at"), ("access_log", "at"), ("consolidation_runs", "at"),
    ("consolidation_runs", "undone_at"), ("index_queue", "queued_at"),
)  # fmt: skip


def _row(mid: str, created: str, accessed: str | None) -> tuple:
    return (
        "h-" + mid, mid, f"Memory {mid}", "ann", "", "", "semantic", "general", "{}", 0.5,
        "medium_term", "active", 1, accessed, created, created, 1,
    )  # fmt: skip


def _store_before_the_padding(path) -> None:
    """The schema as the migrations before the padding left it, holding unpadded dates."""
    with sqlite3.connect(path) as conn:
        for migration in MIGRATIONS[:PADDING]:
            for statement in split_sql(migration.sql):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {PADDING}")
        conn.execute(INSERT_MEMORY, _row("old", OLD, OLDER))
        conn.execute(INSERT_MEMORY, _row("older", OLDER, None))
        conn.execute(INSERT_MEMORY, _row("new", NEW, OLD))
        conn.execute(INSERT_EVENT, ("old", "ADD", OLD, "Memory old", "{}", 0.5, "{}"))
        conn.execute("INSERT INTO access_log VALUES ('old', ?)", (OLDER,))
        conn.execute(
            "INSERT INTO consolidation_runs VALUES ('r1', ?, '{}', '{}', '{}', ?)", (OLD, OLDER)
        )
        conn.execute("INSERT INTO index_queue VALUES ('old', 'upsert', ?)", (OLD,))
    conn.close()


def test_opening_the_store_pads_every_unpadded_year(tmp_path):
    path = tmp_path / "l.db"
    _store_before_the_padding(path)
    ledger = Ledger(path)
    assert ledger.schema_version == len(MIGRATIONS)
    for table, column in DATE_COLUMNS:
        values = [row[0] for row in ledger._read(f"SELECT {column} FROM {table}") if row[0]]
        assert values and all(v[4] == "-" for v in values), (table, column, values)
    in_range = lambda since, until: sorted(  # noqa: E731
        ledger.ids(MemoryFilter(scope=Scope(user_id="ann"), since=since, until=until))
    )
    # unpadded, '999-...' sorted after '1000-...' and '5-...' after '2024-...'
    assert in_range(datetime(900, 1, 1, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC)) == ["old"]
    assert in_range(None, datetime(100, 1, 1, tzinfo=UTC)) == ["older"]
    assert in_range(datetime(1000, 1, 1, tzinfo=UTC), None) == ["new"]
    assert ledger.get("old").last_accessed == datetime(5, 1, 2, tzinfo=UTC)
    assert [r.run_id for r in ledger.recent_runs()] == ["r1"]
    ledger.close()
    Ledger(path).close()  # a second opening changes nothing and does not fail

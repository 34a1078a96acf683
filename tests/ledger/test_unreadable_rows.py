"""A memory row damaged by hand in SQLite: search, list, export and consolidation skip it with a
warning naming its id, a get of it is a clear error, and doctor reports it with the fix."""

import logging
import sqlite3

import pytest

from mcp_memory.cli.doctor import check_store
from mcp_memory.errors import UnreadableMemory
from mcp_memory.factory import LEDGER_FILE

DAMAGE = {
    "created_at": "last tuesday",
    "metadata": '{"broken',
    "lifecycle_stage": "vanished",
    "importance_score": "very",
}


def test_a_damaged_row_is_skipped_by_reads_and_reported_by_doctor(service, settings, caplog):
    good = service.add("The cat sleeps on the red sofa", user_id="ann")
    bad = {
        column: service.add(f"The cat chased a mouse number {n}", user_id="ann").id
        for n, column in enumerate(DAMAGE)
    }
    service.flush()
    with sqlite3.connect(settings.data_dir / LEDGER_FILE) as conn:
        for column, memory_id in bad.items():
            conn.execute(
                f"UPDATE memories SET {column} = ? WHERE id = ?", (DAMAGE[column], memory_id)
            )
    conn.close()

    with caplog.at_level(logging.WARNING):
        found = service.search("cat", user_id="ann", limit=10).results
        listed = service.list(user_id="ann").memories
        exported = list(service.export_records(user_id="ann"))
        service.consolidate(user_id="ann")
    assert [r.id for r in found] == [good.id]
    assert [m.id for m in listed] == [good.id]
    assert [r["id"] for r in exported] == [good.id]
    for memory_id in bad.values():
        assert memory_id in caplog.text
    with pytest.raises(UnreadableMemory, match="created_at 'last tuesday' is not valid"):
        service.get(bad["created_at"])

    checks = {c.name: c for c in check_store(settings, service.embedder, repair=False)}
    rows = checks["memory rows"]
    assert rows.status == "fail" and "4 cannot be read" in rows.detail, rows
    assert all(memory_id in rows.fix for memory_id in bad.values())
    assert "metadata '{\"broken' is not valid" in rows.detail

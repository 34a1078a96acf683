"""A damaged ledger (the source of truth) is reported with what to do, never written to, and
never mistaken for an empty store; reads that still work keep working (for an export)."""

from __future__ import annotations

import sqlite3

import pytest
from mcp.client import Client

from mcp_memory.cli import doctor
from mcp_memory.errors import LedgerDamaged
from mcp_memory.factory import LEDGER_FILE, build_service
from mcp_memory.mcp.app import create_server
from tests.damage import break_index_page, truncate


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def stored(settings, embedder, clock):
    """A data dir holding three memories; returns their ids."""
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = [service.add(f"Fact number {n} about the garden shed", user_id="lea").id for n in "123"]
    service.close()
    return ids


def _rows(settings) -> int:
    conn = sqlite3.connect(settings.data_dir / LEDGER_FILE)
    try:
        return conn.execute("SELECT COUNT(*) FROM memories").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("fraction", [0.5, 0.0], ids=["truncated", "emptied"])
def test_a_truncated_ledger_is_refused_naming_the_file_and_the_way_back(
    settings, embedder, stored, fraction
):
    ledger = settings.data_dir / LEDGER_FILE
    truncate(ledger, fraction)
    damaged = ledger.read_bytes()
    with pytest.raises(LedgerDamaged) as raised:
        build_service(settings, embedder=embedder)
    message = str(raised.value)
    assert str(ledger) in message and "damaged" in message
    assert "backup" in message and "import" in message and "\n" not in message
    assert ledger.read_bytes() == damaged  # left as found: not replaced by a new, empty store


def test_a_ledger_failing_its_check_refuses_writes_and_still_answers_reads(
    settings, embedder, clock, stored
):
    break_index_page(settings.data_dir / LEDGER_FILE, "ix_memories_created")
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        assert service.ledger.check_integrity()  # quick_check finds it
        with pytest.raises(LedgerDamaged, match="is damaged"):
            service.add("One more fact for the damaged ledger", user_id="lea")
        with pytest.raises(LedgerDamaged):
            service.update(stored[0], content="changed")
        assert service.get(stored[1]).memory.content.startswith("Fact number 2")
        assert {r["id"] for r in service.export_records()} == set(stored)
    finally:
        service.close()
    assert _rows(settings) == 3


@pytest.mark.anyio
async def test_the_server_refuses_to_write_into_a_damaged_ledger_with_a_tool_error(
    settings, embedder, clock, stored
):
    break_index_page(settings.data_dir / LEDGER_FILE, "ix_memories_created")
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        async with Client(create_server(service)) as client:
            added = await client.call_tool("add_memory", {"content": "Another fact"})
            found = await client.call_tool("get_memory", {"id": stored[0]})
    finally:
        service.close()
    assert added.is_error and "ledger" in added.content[0].text
    assert "is damaged" in added.content[0].text and "backup" in added.content[0].text
    assert not found.is_error
    assert _rows(settings) == 3


def test_doctor_reports_a_damaged_ledger_as_a_failed_check(settings, stored):
    break_index_page(settings.data_dir / LEDGER_FILE, "ix_memories_created")
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["ledger"].status == "fail"
    assert "integrity check failed" in checks["ledger"].detail
    assert "backup" in checks["ledger"].fix
    assert doctor.as_json(list(checks.values()))["ok"] is False
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert repaired["ledger"].status == "fail"  # --repair does not write into it either
    assert _rows(settings) == 3


def test_doctor_reports_a_ledger_that_does_not_open(settings, stored):
    truncate(settings.data_dir / LEDGER_FILE, 0.5)
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["ledger"].status == "fail" and "damaged" in checks["ledger"].detail
    assert "backup" in checks["ledger"].fix

"""Start-up reconciliation warns of an interruption only after one: adds made before the index
opened (the normal first use of a server) are not one."""

from __future__ import annotations

import logging
import sqlite3

from mcp_memory.config import load_settings
from mcp_memory.factory import LEDGER_FILE, build_service

WARNING = "reconciled the stores after an interruption"


def _settings(tmp_path):
    # the write-behind waits for a pause in the adds: long enough here that start-up comes first
    return load_settings(
        data_dir=tmp_path / "data",
        performance={"write_behind_quiet_s": 10, "write_behind_max_delay_s": 60},
    )


def test_adds_before_the_index_opened_are_not_an_interruption(tmp_path, embedder, caplog):
    service = build_service(_settings(tmp_path), embedder=embedder)
    try:
        service.defer_index_open()
        for n in range(3):
            service.add(f"First-day note number {n}", user_id="ann")
        assert service.ledger.count_pending() == 3
        with caplog.at_level(logging.INFO):
            done = service.reconcile()
        assert done["applied"] == 3 and done["repaired"] is None
        assert WARNING not in caplog.text
        assert service.index_report().agrees
    finally:
        service.close()


def test_what_an_interrupted_run_left_queued_is_reported(tmp_path, embedder, caplog):
    settings = _settings(tmp_path)
    first = build_service(settings, embedder=embedder)
    added = first.add("Written before the crash", user_id="ann")
    first.close()
    with sqlite3.connect(settings.data_dir / LEDGER_FILE) as conn:  # as if it died first
        conn.execute(
            "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, 'upsert', ?)",
            (added.id, "2026-01-01T00:00:00.000000+00:00"),
        )
    conn.close()
    service = build_service(settings, embedder=embedder)
    try:
        service.add("Written after the restart", user_id="ann")
        with caplog.at_level(logging.WARNING):
            service.reconcile()
        assert WARNING in caplog.text and "'left_queued': 1" in caplog.text
    finally:
        service.close()

"""Bulk paths: add_many, export and import (round trip, idempotence), and the CLI commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_memory.errors import InvalidInput
from mcp_memory.factory import build_service
from mcp_memory.models import EventKind


def _fill(service, clock):
    """A small store with updates, accesses, a merge and varied scopes and stages."""
    a = service.add(
        "Alice prefers green tea in the morning", user_id="alice", category="preference"
    )
    service.add(
        "Alice works on the billing service",
        user_id="alice",
        agent_id="coder",
        metadata={"project": "billing", "tags": ["db"]},
    )
    service.add("The deploy runs every Friday", created_at="2025-12-01T08:00:00Z")
    clock.advance(days=1)
    b = service.add("Bob likes long walks", user_id="bob", session_id="s1", importance=0.3)
    service.update(b.id, content="Bob likes long walks by the sea", metadata={"mood": "calm"})
    service.update(a.id, lifecycle_stage="archived")
    service.search("tea", user_id="alice")
    clock.advance(hours=1)
    service.add("Bob likes taking long walks by the sea", user_id="bob", session_id="s1")
    service.consolidate(user_id="bob")
    return service


def test_add_many_stores_like_add_and_skips_duplicates(service):
    first = service.add("Carol speaks French", user_id="carol")
    results = service.add_many(
        [
            {"content": "Carol speaks French", "user_id": "carol"},
            {"content": "Carol lives in Lyon", "user_id": "carol", "category": "fact"},
            {"content": "Carol lives in Lyon", "user_id": "carol"},
            {"content": "Dan plays chess", "user_id": "dan", "importance": 0.2},
        ]
    )
    assert results[0].duplicate_of == first.id
    assert results[1].duplicate_of is None and results[1].memory.category == "fact"
    assert results[2].duplicate_of == results[1].id
    assert results[3].memory.importance_score == 0.2
    assert service.count() == 3
    hits = service.search("Where does Carol live?", user_id="carol", limit=1).results
    assert hits[0].id == results[1].id
    assert [e.event for e in service.history(results[1].id).events] == [EventKind.ADD]
    assert service.ledger.count_pending() == 0 and service.index.count() == 3


def test_add_many_validates_everything_before_storing(service):
    with pytest.raises(InvalidInput, match="item 2"):
        service.add_many([{"content": "fine"}, {"content": "  "}])
    with pytest.raises(InvalidInput, match="unknown argument"):
        service.add_many([{"content": "fine", "colour": "red"}])
    assert service.count() == 0


def test_export_import_round_trips_everything(service, clock, settings, embedder, tmp_path):
    _fill(service, clock)
    exported = list(service.export_records())
    assert len(exported) == service.count() == 4
    target = build_service(
        settings.model_copy(update={"data_dir": tmp_path / "copy"}), embedder=embedder, clock=clock
    )
    try:
        report = target.import_records(exported, batch_size=2)
        assert (report.imported, report.skipped) == (4, 0)
        assert list(target.export_records()) == exported
        for record in exported:
            assert target.get(record["id"]).memory.content == record["content"]
        merged = next(r for r in exported if r["user_id"] == "bob")
        assert [e["event"] for e in merged["history"]] == ["ADD", "UPDATE", "MERGE"]
        hit = target.search("walks by the sea", user_id="bob", limit=1).results[0]
        assert hit.id == merged["id"] and hit.similarity > 0.5
        assert target.index.count() == 4 and target.ledger.count_pending() == 0
    finally:
        target.close()


def test_import_twice_changes_nothing(service, clock):
    _fill(service, clock)
    before = list(service.export_records())
    report = service.import_records(before)
    assert (report.imported, report.skipped) == (0, len(before))
    minimal = [{"content": "Eve collects stamps", "user_id": "eve"}]
    assert service.import_records(minimal).imported == 1
    assert service.import_records(minimal).skipped == 1
    after = list(service.export_records())
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert service.index.count() == len(after)


def test_export_by_scope(service, clock):
    _fill(service, clock)
    alice = list(service.export_records(user_id="alice"))
    assert {r["user_id"] for r in alice} == {"alice"} and len(alice) == 2
    assert [r["user_id"] for r in service.export_records(agent_id="coder")] == ["alice"]


def test_import_rejects_bad_records_naming_them(service):
    with pytest.raises(InvalidInput, match="record 2: unknown field"):
        service.check_records([{"content": "ok"}, {"content": "x", "colour": 1}])
    with pytest.raises(InvalidInput, match=r"record 1: .*lifecycle_stage"):
        service.check_records([{"content": "x", "lifecycle_stage": "gone"}])
    with pytest.raises(InvalidInput, match="history"):
        service.check_records([{"content": "x", "history": [{"event": "NOPE"}]}])
    assert service.count() == 0


def _cli(*args: str, env_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MCP_MEMORY_DATA_DIR": str(env_dir)}
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory", *args], capture_output=True, text=True, env=env,
        input=stdin, timeout=300, check=False,
    )  # fmt: skip


def test_cli_export_import_round_trip(service, clock, settings, tmp_path):
    _fill(service, clock)
    service.close()
    dump, copy = tmp_path / "dump.jsonl", tmp_path / "copy"
    out = _cli("export", str(dump), env_dir=settings.data_dir)
    assert out.returncode == 0, out.stderr
    assert "Exported 4 memories" in out.stderr and "\r" not in out.stderr  # no bar off a TTY
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(records) == 4
    first = _cli("import", str(dump), env_dir=copy)
    assert first.returncode == 0, first.stderr
    assert "Imported 4 memories; skipped 0" in first.stderr
    again = _cli("import", str(dump), env_dir=copy)
    assert "Imported 0 memories; skipped 4" in again.stderr
    back = _cli("export", "-", "--user-id", "bob", env_dir=copy)
    assert [json.loads(x) for x in back.stdout.splitlines()] == [
        r for r in records if r["user_id"] == "bob"
    ]


def test_cli_import_bad_line_stores_nothing(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "fine"}\n{"content": "fine too"}\nnot json\n')
    out = _cli("import", str(bad), env_dir=tmp_path / "data")
    assert out.returncode == 1 and "line 3 is not JSON" in out.stderr
    count = _cli("stats", "--json", env_dir=tmp_path / "data")
    assert json.loads(count.stdout)["total_memories"] == 0

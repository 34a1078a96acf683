"""`mcp-memory migrate`: a SQLite store copied into PostgreSQL and back, everything kept (ids,
scopes, scores, stages, counts, timestamps, history, the consolidation journal), its vectors
reused, a second run changing nothing, the password never printed."""

from __future__ import annotations

from datetime import timedelta

from mcp_memory.cli.main import main
from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from tests.conftest import PG_PASSWORD
from tests.engines import fresh_schema


def _fill(service, clock) -> str:
    service.add("Alice drinks her coffee black", user_id="alice", category="preference")
    service.add(
        "Standup is at nine", user_id="alice", agent_id="bot", session_id="s1", importance=0.3
    )
    service.add(
        "Kickoff for project Apollo",
        user_id="bob",
        memory_type="episodic",
        metadata={"project": "apollo", "tags": ["x", "y"]},
        created_at=(clock() - timedelta(days=40)).isoformat(),
    )
    changed = service.add("Favourite editor is vim", user_id="bob").id
    service.update(changed, content="Favourite editor is emacs", importance=0.9)
    archived = service.add("The old office was on Baker Street", user_id="bob").id
    service.update(archived, lifecycle_stage="archived")
    service.add("The user's dog is called Biscuit", user_id="carol", metadata={"a": 1})
    service.add("The user's dog is named Biscuit", user_id="carol", metadata={"b": 2})
    service.search("what coffee does alice drink?", user_id="alice")
    clock.advance(hours=1)
    kept = service.consolidate(user_id="carol").run_id
    clock.advance(hours=1)
    service.add("Tea is preferred over coffee", user_id="dave")
    service.add("Tea is preferred over coffee", user_id="dave", session_id="s9")
    undone = service.consolidate(user_id="dave").run_id
    service.consolidate(undo=undone, user_id="dave")
    return kept


def _snapshot(service) -> tuple[list, list]:
    records = sorted(service.export_records(), key=lambda r: r["id"])
    runs = [service.ledger.run(r.run_id) for r in service.ledger.recent_runs()]
    return records, runs


def test_a_store_moves_to_postgresql_and_back_unchanged(
    tmp_path, postgres_dsn, embedder, clock, capsys
):
    data = tmp_path / "data"
    source = build_service(load_settings(data_dir=data), embedder=embedder, clock=clock)
    kept_run = _fill(source, clock)
    before = _snapshot(source)
    source.close()
    schema = fresh_schema()
    to = ["migrate", "--to", postgres_dsn, "--schema", schema, "--data-dir", str(data)]
    assert main(to) == 0
    said = capsys.readouterr().out
    assert f"Copied {len(before[0])} memories (0 already there, {len(before[0])} vectors" in said
    assert "and 2 consolidation runs" in said and "PostgreSQL at 127.0.0.1" in said
    assert PG_PASSWORD not in said

    settings = load_settings(
        data_dir=tmp_path / "elsewhere",
        storage={"backend": "postgres", "dsn": postgres_dsn, "schema": schema},
    )
    target = build_service(settings, embedder=embedder, clock=clock)
    try:
        assert _snapshot(target) == before
        stats = target.stats()
        assert stats.index_in_sync and stats.vectors_indexed == len(before[0])
        hit = target.search("how does alice take her coffee?", user_id="alice").results[0]
        assert hit.content == "Alice drinks her coffee black"
        target.consolidate(undo=kept_run, user_id="carol")  # the journal travelled with it
        assert target.stats(user_id="carol").total_memories == 2
    finally:
        target.close()

    assert main(to) == 0  # again: nothing to copy
    assert "Copied 0 memories (" in capsys.readouterr().out

    back = tmp_path / "back"
    assert (
        main(["migrate", "--from", postgres_dsn, "--schema", schema, "--data-dir", str(back)]) == 0
    )
    capsys.readouterr()
    returned = build_service(load_settings(data_dir=back), embedder=embedder, clock=clock)
    try:
        records, runs = _snapshot(returned)
        carol = {r["id"] for r in records if r["user_id"] == "carol"}
        assert len(carol) == 2 and len(runs) == 2
        assert all(run.undone_at is not None for run, _ in runs)  # the undo on PostgreSQL too
        assert returned.stats().index_in_sync
    finally:
        returned.close()

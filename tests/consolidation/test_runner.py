"""Consolidation through the real service (real model, Chroma, SQLite) on an injected clock:
merges, boost from logged accesses, decay, stages, cleanup, overrides, dry run == real run,
journaled runs and their undo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from mcp_memory.clock import to_iso
from mcp_memory.errors import Conflict, InvalidInput, MemoryNotFound
from mcp_memory.factory import build_service
from mcp_memory.ledger import memories as ledger_memories
from mcp_memory.models import EventKind, Stage
from mcp_memory.policy.validation import content_hash
from mcp_memory.service import MemoryService
from mcp_memory.store.records import JournalEntry, MemoryFilter, RowWrite, RunRecord

DOG = "The user's dog is called Biscuit"
DOG_NEAR = "The user's dog is named Biscuit"


@pytest.fixture
def make_service(settings, embedder, clock) -> Iterator:
    """Build services on the shared data dir with some settings sections changed."""
    made: list[MemoryService] = []

    def make(**sections) -> MemoryService:
        changed = {}
        for name, values in sections.items():
            section = getattr(settings, name)
            changed[name] = type(section).model_validate({**section.model_dump(), **values})
        svc = build_service(settings.model_copy(update=changed), embedder=embedder, clock=clock)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()


def ago(clock, days: float) -> str:
    return to_iso(clock() - timedelta(days=days))


def rows(service: MemoryService) -> dict[str, dict]:
    """Every stored memory, all stages, every field."""
    return {m.id: m.model_dump() for m in service.ledger.all_memories(MemoryFilter())}


def hits(service: MemoryService, query: str) -> list[tuple]:
    found = service.search(query, include_archived=True, limit=20).results
    return [(h.id, h.content, h.score, h.similarity) for h in found]


def test_dry_run_reports_exactly_the_real_runs_actions_and_changes_nothing(service, clock):
    service.add(DOG, user_id="u", metadata={"a": 1})
    service.add(DOG_NEAR, user_id="u", metadata={"b": 2})
    service.add("Moved to Lisbon in 2019", user_id="u", category="fact", created_at=ago(clock, 200))
    service.add("Old note about a parking spot", user_id="u", importance=0.2,
                created_at=ago(clock, 3))  # fmt: skip
    before = rows(service)
    dry = service.consolidate(dry_run=True)
    assert rows(service) == before
    assert service.ledger.recent_runs() == []  # dry runs are not journaled
    real = service.consolidate()
    assert dry.dry_run and not real.dry_run
    assert real.actions == dry.actions
    counts = real.model_dump(exclude={"run_id", "dry_run", "actions"})
    assert counts == dry.model_dump(exclude={"run_id", "dry_run", "actions"})
    assert [a.action for a in real.actions] == ["merge", "decay", "stage", "archive"]
    assert real.duplicates_merged == 1 and real.decayed == 1 and real.archived == 1
    assert service.consolidate().actions == []  # a second run at once has nothing left to do


def test_near_duplicates_merge_at_the_threshold_and_not_just_under(make_service, embedder):
    a, b = embedder.embed([DOG, DOG_NEAR])
    cosine = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    strict = make_service(consolidation={"near_duplicate_threshold": cosine + 1e-3})
    keep = strict.add(DOG, user_id="u").id
    strict.add(DOG_NEAR, user_id="u")
    assert strict.consolidate().duplicates_merged == 0
    loose = make_service(consolidation={"near_duplicate_threshold": cosine - 1e-3})
    result = loose.consolidate()
    assert result.duplicates_merged == 1 and result.actions[0].memory_id == keep
    assert loose.list(user_id="u").total == 1


def test_merge_history_names_both_sides_and_keeps_the_oldest_id(service, clock):
    old = service.add(DOG, user_id="u", importance=0.4, created_at=ago(clock, 2)).id
    new = service.add(DOG_NEAR, user_id="u", importance=0.9).id
    service.get(new)
    run = service.consolidate()
    kept = service.get(old).memory
    assert kept.importance_score == 0.9 and kept.access_count == 2  # 1 + this get
    merge_event = service.history(old).events[-1]
    assert merge_event.event == EventKind.MERGE and merge_event.details["absorbed"] == [new]
    absorbed_event = service.history(new).events[-1]
    assert absorbed_event.details["merged_into"] == old
    assert absorbed_event.details["run_id"] == run.run_id
    with pytest.raises(MemoryNotFound):
        service.get(new)


def test_boost_counts_accesses_in_the_window_once(service, clock):
    mid = service.add("Prefers window seats on long flights", user_id="u", importance=0.5).id
    for _ in range(5):
        service.get(mid)
    assert service.consolidate().importance_boosted == 0  # 5 is not more than 5
    service.get(mid)
    run = service.consolidate()
    assert run.importance_boosted == 1
    assert service.get(mid).memory.importance_score == pytest.approx(0.6)
    assert service.consolidate().importance_boosted == 0  # accesses before the boost used up
    for _ in range(6):
        service.get(mid)
    clock.advance(days=8)
    assert service.consolidate().importance_boosted == 0  # out of the 7-day window


def test_cleanup_deletes_after_time_in_archive_and_undo_brings_it_back(service, clock):
    mid = service.add("Parked on level 3 today", user_id="u", importance=0.2).id
    assert service.get(mid).memory.retention == "ephemeral"
    clock.advance(days=2)
    first = service.consolidate()
    assert [a.action for a in first.actions] == ["archive"]
    assert service.search("where did I park", user_id="u").results == []
    clock.advance(days=29)
    assert service.consolidate().deleted == 0  # archived 29 days: not yet
    clock.advance(days=1)
    cleanup = service.consolidate()
    assert cleanup.deleted == 1 and cleanup.actions[0].memory_id == mid
    assert service.history(mid).events[-1].event == EventKind.DELETE
    assert service.stats().vectors_indexed == 0
    undone = service.consolidate(undo=cleanup.run_id)
    assert undone.undone and undone.deleted == 1
    back = service.get(mid).memory
    assert back.lifecycle_stage == Stage.archived and back.content == "Parked on level 3 today"
    found = service.search("where did I park", user_id="u", include_archived=True).results
    assert [h.id for h in found] == [mid]


def test_per_type_and_session_overrides(make_service, clock):
    svc = make_service(
        retention={
            "overrides": {
                "procedural": {"never_age": True},
                "session": {"max_age_days": 1},
            }
        }
    )
    how = svc.add("To deploy, run make release then tag the commit", memory_type="procedural",
                  user_id="u", created_at=ago(clock, 400), importance=0.8).id  # fmt: skip
    fact = svc.add("Worked at Acme until 2024", user_id="u", importance=0.8,
                   created_at=ago(clock, 400)).id  # fmt: skip
    chat = svc.add("Asked about flights to Rome", user_id="u", session_id="s1",
                   created_at=ago(clock, 2)).id  # fmt: skip
    plain = svc.add("Enjoys cooking risotto", user_id="u", created_at=ago(clock, 2)).id
    svc.consolidate()
    stage = {m: svc.get(m).memory.lifecycle_stage for m in (how, fact, chat, plain)}
    assert stage == {
        how: Stage.active,
        fact: Stage.archived,
        chat: Stage.archived,
        plain: Stage.active,
    }
    assert svc.get(how).memory.importance_score == 0.8  # never ages, never decays
    assert svc.get(fact).memory.importance_score < 0.8


def test_restore_sticks_until_the_memory_ages_again(service, clock):
    mid = service.add("The old office was on Baker Street", user_id="u", importance=0.6,
                      created_at=ago(clock, 40)).id  # fmt: skip
    service.consolidate()
    assert service.get(mid).memory.lifecycle_stage == Stage.archived
    service.update(mid, lifecycle_stage="active")
    assert service.history(mid).events[-1].event == EventKind.RESTORE
    assert service.consolidate().archived == 0
    clock.advance(days=16)
    assert service.consolidate().stages_updated == 1
    assert service.get(mid).memory.lifecycle_stage == Stage.aging
    clock.advance(days=15)
    assert service.consolidate().archived == 1


def test_undo_restores_the_exact_prior_state(service, clock):
    service.add(DOG, user_id="u", metadata={"a": 1}, created_at=ago(clock, 1))
    service.add(DOG_NEAR, user_id="u", metadata={"b": 2})
    service.add("Takes the dog to the beach on Sundays", user_id="u")
    service.add("Moved to Lisbon in 2019", user_id="u", created_at=ago(clock, 200))
    service.add("Bought a blue bicycle", user_id="v", importance=0.2, created_at=ago(clock, 3))
    tea = service.add("Drinks green tea every morning", user_id="v", importance=0.5).id
    for _ in range(6):
        service.get(tea)
    queries = ["what is the dog called", "where does the user live", "bicycle", "tea"]
    searched = {q: hits(service, q) for q in queries}
    before = rows(service)
    run = service.consolidate()
    assert {a.action for a in run.actions} >= {"merge", "decay", "archive", "boost"}
    assert rows(service) != before
    result = service.consolidate(undo=run.run_id)
    assert result.undone and result.actions == run.actions
    assert rows(service) == before
    service.sync_index()
    assert service.ledger.count_pending() == 0
    assert service.stats().vectors_indexed == len(before)
    assert {q: hits(service, q) for q in queries} == searched
    with pytest.raises(InvalidInput, match="already undone"):
        service.consolidate(undo=run.run_id)


def test_undo_keeps_accesses_made_after_the_run(service, clock):
    keep = service.add(DOG, user_id="u", created_at=ago(clock, 1)).id
    service.add(DOG_NEAR, user_id="u")
    run = service.consolidate()
    service.get(keep)
    service.consolidate(undo=run.run_id)
    assert service.ledger.get(keep).access_count == 1


def test_undo_refuses_when_a_later_change_touched_the_same_memory(service, clock):
    keep = service.add(DOG, user_id="u", created_at=ago(clock, 1)).id
    service.add(DOG_NEAR, user_id="u")
    first = service.consolidate()
    service.update(keep, content="The user's dog is called Biscuit; he is a beagle")
    with pytest.raises(Conflict, match="changed since"):
        service.consolidate(undo=first.run_id)
    assert service.list(user_id="u").total == 1  # nothing changed
    assert service.stats().last_consolidation.undone_at is None
    with pytest.raises(InvalidInput, match="no consolidation run"):
        service.consolidate(undo="0" * 32)
    with pytest.raises(InvalidInput, match="run_id"):
        service.consolidate(undo="not a run id!")


def test_runs_undo_in_reverse_order(service, clock):
    keep = service.add(DOG, user_id="u", importance=0.6, created_at=ago(clock, 1)).id
    service.add(DOG_NEAR, user_id="u")
    first = service.consolidate()
    clock.advance(days=16)  # medium_term (30 days): aging
    second = service.consolidate()
    assert [a.action for a in second.actions] == ["stage"]
    with pytest.raises(Conflict):
        service.consolidate(undo=first.run_id)
    service.consolidate(undo=second.run_id)
    service.consolidate(undo=first.run_id)
    assert service.list(user_id="u").total == 2
    assert service.get(keep).memory.lifecycle_stage == Stage.active


def test_undo_with_another_scope_is_refused(service):
    service.add(DOG, user_id="u")
    service.add(DOG, user_id="u", agent_id="a")
    run = service.consolidate(user_id="u")
    with pytest.raises(InvalidInput, match="covered scope"):
        service.consolidate(undo=run.run_id, user_id="w")
    assert service.consolidate(undo=run.run_id, user_id="u").undone


def test_stats_show_stages_retention_and_the_last_run(service, clock):
    service.add("Moved to Lisbon in 2019", user_id="u", importance=0.6, created_at=ago(clock, 40))
    service.add("Enjoys cooking risotto", user_id="u", importance=0.8)
    assert service.stats().last_consolidation is None
    run = service.consolidate(user_id="u")
    stats = service.stats(user_id="u")
    assert stats.by_stage == {"archived": 1, "active": 1}
    assert stats.by_retention == {"medium_term": 1, "long_term": 1}
    assert stats.age_distribution.last_24h == 1 and stats.age_distribution.last_month == 0
    last = stats.last_consolidation
    assert last.run_id == run.run_id and last.user_id == "u" and last.counts["archived"] == 1
    assert service.stats(user_id="other").last_consolidation is None
    service.consolidate(undo=run.run_id)
    assert service.stats().last_consolidation.undone_at == clock()


def test_a_run_planned_on_stale_rows_changes_nothing(service, clock):
    mid = service.add("Enjoys cooking risotto", user_id="u").id
    stale = service.ledger.get(mid)
    service.update(mid, importance=0.9)
    run = RunRecord("r" * 32, clock(), {}, {})
    with pytest.raises(Conflict):
        service.ledger.record_run(run, [], [JournalEntry(stale, stale.version + 1, 0)])
    assert service.ledger.recent_runs() == []


def test_accesses_counted_while_a_run_was_planned_are_kept(service, clock):
    mid = service.add("Enjoys cooking risotto", user_id="u").id
    prior = service.ledger.get(mid)
    service.get(mid)
    service.get(mid)  # two reads between planning and applying
    after = prior.model_copy(update={"importance_score": 0.9, "version": prior.version + 1})
    write = RowWrite("save", after, content_hash(after.content), EventKind.UPDATE, clock(), {})
    run = RunRecord("r" * 32, clock(), {}, {})
    service.ledger.record_run(run, [write], [JournalEntry(prior, after.version, 0)])
    stored = service.ledger.get(mid)
    assert stored.importance_score == 0.9 and stored.access_count == 2


def test_access_log_is_pruned_to_the_boost_window(service, clock, monkeypatch):
    monkeypatch.setattr(ledger_memories, "PRUNE_EVERY", 2)
    mid = service.add("Enjoys cooking risotto", user_id="u").id
    service.get(mid)
    clock.advance(days=8)
    service.get(mid)  # second touch: prunes what is older than the 7-day window
    times = service.ledger.accesses_since([mid], clock() - timedelta(days=365))
    assert times == {mid: [clock()]}


def test_dry_run_and_undo_together_are_refused(service):
    service.add(DOG, user_id="u")
    with pytest.raises(InvalidInput, match="not both"):
        service.consolidate(undo="a" * 32, dry_run=True)


def test_redundant_text_folds_into_the_richer_one(make_service, clock):
    svc = make_service(consolidation={"near_duplicate_threshold": 0.9999})
    poor = svc.add("Ann keeps her spare house key under the blue flower pot", user_id="u",
                   importance=0.9, created_at=ago(clock, 3)).id  # fmt: skip
    rich = svc.add("Ann keeps her spare house key under the blue flower pot outside",
                   user_id="u").id  # fmt: skip
    run = svc.consolidate()
    assert [(a.action, a.memory_id, a.other_ids) for a in run.actions] == [
        ("remove_redundant", rich, [poor])
    ]
    assert run.redundancies_eliminated == 1 and run.duplicates_merged == 0
    kept = svc.get(rich).memory
    assert kept.content.endswith("outside") and kept.importance_score == 0.9
    assert svc.history(poor).events[-1].details["merged_into"] == rich
    assert svc.history(rich).events[-1].details["absorbed"] == [poor]

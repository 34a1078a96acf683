"""MemoryService with the real model, real Chroma and real SQLite."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from mcp_memory.config import Settings
from mcp_memory.errors import InvalidInput, MemoryNotFound
from mcp_memory.factory import build_service
from mcp_memory.models import EventKind, Scope, Stage
from mcp_memory.policy.filters import memory_filter
from mcp_memory.policy.validation import content_hash
from tests.engines import ENGINES, engine_settings

FACTS = {
    "coffee": "Alice drinks her coffee black with no sugar",
    "sister": "Alice's sister Maria lives in Lisbon and works as a nurse",
    "allergy": "Alice is allergic to peanuts",
    "car": "Alice drives a blue 2015 Toyota Corolla",
    "job": "Alice works as a data engineer at a logistics startup",
    "hobby": "On weekends Alice goes rock climbing at the indoor gym",
}
QUESTIONS = {
    "coffee": "How does she take her coffee?",
    "sister": "Where does her sibling live?",
    "allergy": "What food should she avoid?",
    "car": "What vehicle does she own?",
    "job": "What is her profession?",
    "hobby": "What does she do for fun on Saturdays?",
}


@pytest.fixture(params=sorted(ENGINES))
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Every test of the service suite runs on every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path)


@pytest.fixture
def alice(service):
    return {
        key: service.add(text, user_id="alice", category="fact").id for key, text in FACTS.items()
    }


def test_paraphrased_questions_find_the_right_memory_first(service, alice):
    for key, question in QUESTIONS.items():
        top = service.search(question, user_id="alice", limit=3).results[0]
        assert top.id == alice[key], (question, top.content)
        assert 0 < top.similarity <= 1


def test_one_user_never_sees_another(service, alice):
    service.add("Bob keeps bees in his garden", user_id="bob")
    hits = service.search("Who keeps bees?", user_id="alice").results
    assert hits and all(h.memory.user_id == "alice" for h in hits)
    assert [h.memory.user_id for h in service.search("bees", user_id="bob").results] == ["bob"]
    assert service.list(user_id="bob").total == 1


def test_scope_filters_match_every_given_field(service):
    a = service.add("Uses tabs for indentation", user_id="u", agent_id="ide", session_id="s1").id
    b = service.add("Uses spaces in YAML files", user_id="u", agent_id="chat").id
    assert {h.id for h in service.search("indentation", user_id="u").results} == {a, b}
    assert [h.id for h in service.search("indentation", user_id="u", agent_id="ide").results] == [a]
    assert [h.id for h in service.search("indentation", session_id="s1").results] == [a]


def test_exact_duplicate_is_not_stored_twice(service):
    first = service.add("The wifi password is on the fridge", user_id="u")
    again = service.add("  the WIFI password is on the fridge ", user_id="u")
    assert again.duplicate_of == first.id and again.id == first.id
    other_scope = service.add("The wifi password is on the fridge", user_id="v")
    assert other_scope.duplicate_of is None
    assert service.stats().total_memories == 2


def test_add_computes_importance_and_retention(service):
    memory = service.add(
        "I always prefer window seats on long flights", category="preference"
    ).memory
    assert memory.importance_score == 1.0 and memory.retention == "long_term"
    given = service.add("meh", importance=0.2, retention="ephemeral").memory
    assert given.importance_score == 0.2 and given.retention == "ephemeral"


def test_filters_on_type_category_metadata_and_time(service, clock):
    old = service.add(
        "Kickoff meeting for project Apollo happened in the big room",
        memory_type="episodic",
        category="experience",
        metadata={"project": "apollo"},
        created_at=(clock() - timedelta(days=40)).isoformat(),
    ).id
    new = service.add(
        "Project Apollo ships its first release in June", metadata={"project": "apollo"}
    ).id
    service.add("Project Hermes is on hold", metadata={"project": "hermes"})
    ids = lambda **kw: [h.id for h in service.search("project Apollo", **kw).results]  # noqa: E731
    assert set(ids(metadata={"project": "apollo"})) == {old, new}
    assert ids(memory_type="episodic") == [old]
    assert ids(category="experience") == [old]
    assert ids(since=(clock() - timedelta(days=1)).isoformat(), metadata={"project": "apollo"}) == [
        new
    ]
    assert ids(until=(clock() - timedelta(days=30)).isoformat()) == [old]


def test_search_counts_accesses(service, alice, clock):
    hit = service.search(QUESTIONS["car"], user_id="alice", limit=1).results[0]
    assert hit.memory.access_count == 1 and hit.memory.last_accessed == clock()
    assert service.get(alice["car"]).memory.access_count == 2


def test_update_keeps_history_and_reindexes(service):
    mid = service.add("Favourite editor is vim", user_id="u").id
    updated = service.update(mid, content="Favourite editor is emacs now", importance=0.9).memory
    assert updated.version == 2 and updated.importance_score == 0.9
    events = service.history(mid).events
    assert [e.event for e in events] == [EventKind.ADD, EventKind.UPDATE]
    assert events[0].content == "Favourite editor is vim"
    assert events[1].content == "Favourite editor is emacs now"
    top = service.search("which text editor", user_id="u", limit=1).results[0]
    assert top.content == "Favourite editor is emacs now"
    assert service.ledger.count_pending() == 0


def test_delete_leaves_search_and_keeps_history(service, alice):
    service.delete(alice["car"])
    hits = service.search(QUESTIONS["car"], user_id="alice").results
    assert alice["car"] not in {h.id for h in hits}
    assert service.history(alice["car"]).events[-1].event == EventKind.DELETE
    with pytest.raises(MemoryNotFound, match="not found"):
        service.get(alice["car"])
    assert service.stats().vectors_indexed == len(FACTS) - 1


def test_archived_memories_leave_default_search_until_restored(service):
    mid = service.add("The old office was on Baker Street", user_id="u").id
    service.update(mid, lifecycle_stage="archived")
    assert service.search("office street", user_id="u").results == []
    assert [
        h.id for h in service.search("office street", user_id="u", include_archived=True).results
    ] == [mid]
    assert service.list(user_id="u").total == 0
    assert service.list(user_id="u", stage="archived").total == 1
    service.update(mid, lifecycle_stage="active")
    assert [h.id for h in service.search("office street", user_id="u").results] == [mid]
    assert [e.event for e in service.history(mid).events][-2:] == [
        EventKind.ARCHIVE,
        EventKind.RESTORE,
    ]


def test_consolidate_dry_run_then_real_run(service):
    keep = service.add("The user's dog is called Biscuit", user_id="u", metadata={"a": 1}).id
    near = service.add("The user's dog is named Biscuit", user_id="u", metadata={"b": 2}).id
    service.add("The user's dog is called Biscuit", user_id="v")  # other scope: untouched
    service.add("Tea is preferred over coffee", user_id="u")
    dry = service.consolidate(dry_run=True)
    assert dry.dry_run and dry.duplicates_merged == 1
    assert service.get(near).memory.id == near  # nothing changed
    real = service.consolidate()
    assert [a.model_dump(exclude={"reason"}) for a in real.actions] == [
        a.model_dump(exclude={"reason"}) for a in dry.actions
    ]
    merged = service.get(keep).memory
    assert merged.metadata == {"a": 1, "b": 2} and merged.version == 2
    with pytest.raises(MemoryNotFound):
        service.get(near)
    assert service.history(keep).events[-1].details["absorbed"] == [near]
    assert service.history(near).events[-1].details["merged_into"] == keep
    assert service.stats(user_id="u").total_memories == 2
    assert service.stats().vectors_indexed == 3


def test_stats_counts(service, alice, clock):
    service.add(
        "An old memory", user_id="bob", created_at=(clock() - timedelta(days=100)).isoformat()
    )
    stats = service.stats()
    assert stats.total_memories == len(FACTS) + 1
    assert stats.by_user == {"alice": len(FACTS), "bob": 1}
    assert stats.age_distribution.last_24h == len(FACTS) and stats.age_distribution.older == 1
    assert stats.vectors_indexed == len(FACTS) + 1 and stats.pending_index == 0
    assert stats.embedder.endswith("all-MiniLM-L6-v2") and stats.storage_bytes > 0
    # What the files take on disk: embedded Qdrant's are sparse, 160 MB long for these few.
    assert stats.storage_bytes < 20 * 1_048_576
    assert service.stats(user_id="bob").total_memories == 1


def test_bad_input_changes_nothing(service, alice):
    before = service.stats().model_dump()
    bad_calls = [
        lambda: service.add(""),
        lambda: service.add("x" * 10_001),
        lambda: service.add("ok", importance=2),
        lambda: service.add("ok", category="gossip"),
        lambda: service.add("ok", created_at="2999-01-01"),
        lambda: service.add("ok", metadata={"a": [[[["deep"]]]]}),
        lambda: service.search("q", limit=0),
        lambda: service.search("q", since="not a date"),
        lambda: service.update("nope-id", content="x"),
        lambda: service.update(alice["car"]),
        lambda: service.delete("no such id"),
    ]
    for call in bad_calls:
        with pytest.raises((InvalidInput, MemoryNotFound)):
            call()
    assert service.stats().model_dump() == before


def test_memories_survive_a_restart(settings, embedder, clock, alice, service):
    service.close()
    reopened = build_service(settings, embedder=embedder, clock=clock)
    assert reopened.search(QUESTIONS["job"], user_id="alice", limit=1).results[0].id == alice["job"]
    reopened.close()


def test_start_up_finishes_index_work_a_crash_left(settings, embedder, clock, service):
    """A crash after the ledger commit but before Chroma was written loses nothing."""
    from mcp_memory.models import Memory

    orphan = service.add("This memory will be deleted while the index is down", user_id="u").id
    ledger_only = Memory(
        id="crashed0001",
        content="The spare key is under the blue flowerpot",
        user_id="u",
        memory_type="semantic",
        category="fact",
        importance_score=0.8,
        retention="long_term",
        lifecycle_stage=Stage.active,
        access_count=0,
        created_at=clock(),
        updated_at=clock(),
        version=1,
    )
    service.ledger.insert_unless_duplicate(ledger_only, content_hash(ledger_only.content))
    service.ledger.delete(service.ledger.get(orphan), clock())  # queued, never applied
    service.close()

    reopened = build_service(settings, embedder=embedder, clock=clock)
    reopened.warm_up()
    assert reopened.ledger.count_pending() == 0
    assert (
        reopened.search("where is the spare key", user_id="u", limit=1).results[0].id
        == "crashed0001"
    )
    assert reopened.index.existing_ids([orphan]) == set()
    reopened.close()


def test_index_report_and_repair(service, alice):
    assert service.index_report().agrees
    service.index.delete([alice["car"]])  # a vector lost behind the ledger's back
    service.index.upsert([_stray_vector(service)])  # and a ghost the ledger never had
    report = service.index_report()
    assert report.missing == [alice["car"]] and report.orphans == ["ghost0001"]
    assert not report.agrees
    repaired = service.repair_index()
    assert repaired.agrees and repaired.vectors == repaired.memories == len(FACTS)
    assert service.search(QUESTIONS["car"], user_id="alice", limit=1).results[0].id == alice["car"]


def _stray_vector(service):
    from mcp_memory.store.vectors import VectorRecord

    return VectorRecord(
        id="ghost0001", vector=service.embedder.embed_query("ghost"), user_id="alice"
    )


def test_add_leaves_the_vector_write_behind_and_a_search_waits_for_it(service):
    """add answers once the ledger holds the memory; the vector it computed is written by a
    background thread, and a search that comes first applies the queue itself."""
    with service.index_sync.lock:  # the background writer waits for it; this thread may enter
        added = service.add("The spare key hangs behind the blue door", user_id="kai")
        assert service.ledger.count_pending() == 1 and service.index.count() == 0
        hits = service.search("where is the spare key?", user_id="kai").results
        assert hits[0].id == added.id
        assert service.ledger.count_pending() == 0 and service.index.count() == 1


def test_the_index_write_lock_is_only_taken_under_the_sync_lock(service, monkeypatch):
    """One lock order everywhere: the write-behind thread holds the sync lock when it writes
    the index, so a path taking the index lock first (start-up reconciliation did) could wait
    for it while it waits for that path: a deadlock seen when the model loaded fast."""
    orders = []
    writing = service.index.writing

    def checked():
        orders.append(service.index_sync.lock._is_owned())
        return writing()

    monkeypatch.setattr(service.index, "writing", checked)
    first = service.add("I keep my passport in the desk drawer", user_id="u1").id
    service.flush()
    second = service.add("My bike is locked in the garage", user_id="u1").id
    service.update(first, content="I keep my passport in the safe")
    service.reconcile()
    service.repair_index()
    service.search("where is my passport?", user_id="u1")
    service.delete(second)
    service.close()
    assert orders and all(orders)


def test_closing_waits_for_an_index_write_in_progress(service):
    """Start-up reconciliation can still hold the index write lock when the client leaves;
    closing must not pull the lock file from under it."""
    service.add("I keep my passport in the desk drawer", user_id="u1")
    service.flush()
    inside, release, closed = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def writer():
        try:
            with service.index.writing():
                inside.set()
                release.wait()
        except Exception as exc:  # the bug: unlocking a lock file closed meanwhile
            errors.append(exc)

    def closer():
        service.close()
        closed.set()

    first = threading.Thread(target=writer)
    first.start()
    inside.wait()
    second = threading.Thread(target=closer)
    second.start()
    try:
        waited = not closed.wait(timeout=0.5)
    finally:
        release.set()
        first.join()
        second.join()
    assert waited, "close() did not wait for the write in progress"
    assert closed.is_set() and errors == []


def test_a_word_most_memories_hold_is_left_out_of_the_search(service):
    """It neither selects nor scores (its weight is near zero, its cost is not); the rare word
    decides. A query of common words alone keeps the rarest."""
    service.add_many(
        [{"content": f"The user logged entry number {i}", "user_id": "u"} for i in range(6)]
        + [{"content": "The kettle is descaled monthly", "user_id": "u"}]
    )
    flt = memory_filter(service.policy.limits, Scope(user_id="u"), now=service.clock())
    pool = service.gather("user kettle", flt, 10)
    assert pool.terms.idf.keys() == {"kettle"}  # "user": 6 of 7 memories
    kettle = next(c for c in pool.candidates if "kettle" in c.content)
    assert kettle.keyword > 0
    assert all(c.keyword == 0 for c in pool.candidates if "logged" in c.content)
    assert service.search("user kettle", user_id="u").results[0].id == kettle.id
    assert service.gather("user", flt, 10).terms.idf.keys() == {"user"}


def test_list_pages_by_time_with_the_whole_listings_total(service, clock):
    ids = []
    for i in range(5):
        ids.append(service.add(f"Quinn's note number {i} about the garden", user_id="quinn").id)
        if i != 2:
            clock.advance(minutes=1)  # notes 2 and 3 share an instant
    newest_first = ids[::-1]
    first = service.list(user_id="quinn", limit=2)
    assert [m.id for m in first.memories] == newest_first[:2] and first.total == 5
    last = first.memories[-1].created_at
    after = service.list(user_id="quinn", limit=2, until=last.isoformat(), offset=1)
    assert [m.id for m in after.memories] == newest_first[2:4] and after.total == 5
    with pytest.raises(InvalidInput, match="until"):
        service.list(user_id="quinn", until="last tuesday")

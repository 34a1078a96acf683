"""The fast paths give the same answers as the slow ones: exact scoped search, running counts."""

from __future__ import annotations

import io
import re
import threading
from collections import Counter

import numpy as np
import pytest

from mcp_memory.cli.progress import ProgressBar
from mcp_memory.factory import CHROMA_DIR, build_service
from mcp_memory.models import Scope
from mcp_memory.store.records import MemoryFilter
from mcp_memory.vectors.chroma import scoped_file
from mcp_memory.vectors.scoped import ScopedVectors

TEXTS = [
    "Alice prefers green tea in the morning",
    "Alice is learning to play the cello",
    "Alice works on the billing service migration",
    "Alice travelled to Kyoto last spring",
    "Alice dislikes spicy food",
    "Alice's manager is called Priya",
    "Alice runs the integration tests before every deploy",
    "Alice met an old classmate in Lisbon",
]


@pytest.fixture
def store(service):
    items = [
        {
            "content": t,
            "user_id": "alice",
            "session_id": f"s{i % 2}",
            "category": "fact" if i % 3 else "preference",
        }
        for i, t in enumerate(TEXTS)
    ]
    items += [{"content": t.replace("Alice", "Bob"), "user_id": "bob"} for t in TEXTS]
    items += [{"content": "The office closes at six", "agent_id": "helpdesk"}]
    service.add_many(items)
    return service


def _brute_force(service, query, memories):
    qvec = service.embedder.embed_query(query)
    sims = service.embedder.embed([m.content for m in memories]) @ qvec
    return [m.id for _, m in sorted(zip(-sims, memories, strict=True), key=lambda p: p[0])]


def _all(service, **scope):
    return service.list(limit=100, **scope).memories


@pytest.mark.parametrize("query", ["What does Alice drink?", "music lessons", "trips abroad"])
def test_scoped_search_is_exact(store, query):
    """The dense candidates of a scoped search are the exact nearest (hybrid ranking then
    reorders them; that is tested in test_retrieval)."""
    flt = MemoryFilter(scope=Scope(user_id="alice"), exclude_stages=("archived",))
    dense, _ = store.searcher.dense(store.embedder.embed_query(query), flt, 5)
    expected = _brute_force(store, query, _all(store, user_id="alice"))
    assert list(dense) == expected[:5]
    hits = store.search(query, user_id="alice", limit=5).results
    assert hits and all(h.memory.user_id == "alice" for h in hits)


def test_a_scoped_search_reads_its_scope_once(service, monkeypatch):
    """The vectors an exact search read serve the rest of it: the cosines of candidates beyond
    the nearest, and the order of their session. None is read again by id."""
    service.add_many(
        [
            {"content": f"Week {i}: the team discussed item {i} of the roadmap", "user_id": "carol",
             "session_id": "weekly"}
            for i in range(80)
        ]
    )  # fmt: skip
    query = "what did the team discuss about the roadmap?"
    flt = MemoryFilter(scope=Scope(user_id="carol"), exclude_stages=("archived",))
    pool = service.gather(query, flt, 10)
    assert len(pool.candidates) > service.policy.ranking.candidate_pool  # some beyond the nearest
    assert pool.trust  # the session's order was judged
    reads: list[list[str]] = []
    real = service.index.vectors
    monkeypatch.setattr(service.index, "vectors", lambda ids: reads.append(list(ids)) or real(ids))
    service.searcher.orders = type(service.searcher.orders)(
        service.index.vectors
    )  # judge the session afresh
    hits = service.search(query, user_id="carol").results
    assert len(hits) == 10 and all(h.memory.user_id == "carol" for h in hits)
    assert reads == []


def test_no_statement_of_a_search_scans_the_memories_table(store):
    """Every read of a search is a keyed lookup (the keyword index is searched by term): a
    scan of ``memories`` or of one of its indexes grows with the store."""
    with store.ledger.traced() as statements:
        store.search("what does Alice drink?", user_id="alice")
        store.search("what does Alice drink?")
    reads = [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert any("WITH keys" in sql for sql in reads)  # the sessions' member lists were read
    for sql in reads:
        for step in store.ledger.query_plan(sql):
            assert not re.match(r"SCAN (memories|m)( |$)", step), (step, sql)


def test_scoped_search_applies_other_filters_and_hides_archived(store):
    facts = _all(store, user_id="alice", category="fact")
    hits = store.search("Alice", user_id="alice", category="fact", limit=100).results
    assert {h.id for h in hits} == {m.id for m in facts}
    archived = hits[0].id
    store.update(archived, lifecycle_stage="archived")
    again = store.search("Alice", user_id="alice", limit=100).results
    assert archived not in {h.id for h in again} and len(again) == len(TEXTS) - 1
    with_archived = store.search("Alice", user_id="alice", limit=100, include_archived=True)
    assert archived in {h.id for h in with_archived.results}
    session = store.search("Alice", user_id="alice", session_id="s1", limit=100).results
    assert {h.id for h in session} == {m.id for m in _all(store, user_id="alice", session_id="s1")}
    assert {h.memory.session_id for h in session} == {"s1"}


def test_scoped_search_follows_updates_and_deletes(store):
    target = store.search("cello", user_id="alice", limit=1).results[0]
    store.update(target.id, content="Alice gave up the cello and took up rock climbing")
    assert store.search("climbing", user_id="alice", limit=1).results[0].id == target.id
    store.delete(target.id)
    assert target.id not in {
        h.id for h in store.search("climbing", user_id="alice", limit=100).results
    }
    assert (
        store.search("office hours", agent_id="helpdesk").results[0].content
        == "The office closes at six"
    )


def test_scoped_copy_is_rebuilt_from_chroma(store, settings, embedder, clock):
    expected = [h.id for h in store.search("tea", user_id="alice").results]
    store.close()
    (settings.data_dir / CHROMA_DIR / scoped_file(settings.vector.collection)).unlink()
    reopened = build_service(settings, embedder=embedder, clock=clock)
    try:
        assert [h.id for h in reopened.search("tea", user_id="alice").results] == expected
    finally:
        reopened.close()


def test_until_the_warm_up_a_global_search_scans_rather_than_open_chroma(
    store, settings, embedder, clock
):
    expected = [h.id for h in store.search("what does Alice drink?").results]
    store.close()
    reopened = build_service(settings, embedder=embedder, clock=clock)
    try:
        reopened.defer_index_open()
        scanned = [h.id for h in reopened.search("what does Alice drink?").results]
        collection = reopened.index.opened().current()
        assert not collection.chroma_open and scanned == expected
        reopened.reconcile()  # the warm-up: opens Chroma, and searches use it from then on
        assert collection.chroma_open
        assert [h.id for h in reopened.search("what does Alice drink?").results] == expected
    finally:
        reopened.close()


def test_stats_running_counts_match_the_rows(store, clock):
    alice = _all(store, user_id="alice")
    store.update(alice[0].id, category="skill", importance=0.95, memory_type="procedural")
    store.update(alice[1].id, lifecycle_stage="archived")
    store.delete(alice[2].id)
    store.add(alice[3].content + "!", user_id="alice")
    store.consolidate(user_id="alice")
    clock.advance(days=3)
    for scope in (
        {},
        {"user_id": "alice"},
        {"user_id": "bob"},
        {"agent_id": "helpdesk"},
        {"user_id": "alice", "session_id": "s1"},
    ):
        rows = list(store.export_records(**scope))
        got = store.stats(**scope)
        assert got.total_memories == len(rows) == store.count(**scope)
        active = [r for r in rows if r["lifecycle_stage"] != "archived"]
        assert store.list(**scope, limit=1).total == len(active)
        facts = [r for r in active if r["category"] == "fact"]
        assert store.list(**scope, category="fact", limit=1).total == len(facts)
        assert got.by_category == dict(sorted(Counter(r["category"] for r in rows).items()))
        assert got.by_type == dict(sorted(Counter(r["memory_type"] for r in rows).items()))
        assert got.by_stage == dict(sorted(Counter(r["lifecycle_stage"] for r in rows).items()))
        assert got.by_retention == dict(sorted(Counter(r["retention"] for r in rows).items()))
        assert got.by_user == dict(sorted(Counter(r["user_id"] or "(none)" for r in rows).items()))
        mean = np.mean([r["importance_score"] for r in rows])
        assert got.average_importance == pytest.approx(mean, abs=1e-4)


def test_concurrent_queries_share_an_encode_and_get_their_own_vectors(embedder):
    queries = [f"question {i}: where did the team go for lunch on day {i}?" for i in range(12)]
    expected = {q: embedder.embed([q])[0] for q in queries}
    got: dict[str, np.ndarray] = {}
    threads = [
        threading.Thread(target=lambda q=q: got.update({q: embedder.embed_query(q)}))
        for q in queries
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for query in queries:
        assert np.allclose(got[query], expected[query], atol=1e-5), query


def test_progress_bar_draws_only_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown, hidden = Terminal(), io.StringIO()
    for stream in (shown, hidden):
        bar = ProgressBar(3, "import", stream=stream)
        bar.advance(2)
        bar.advance(1)
        bar.close()
    assert "import [" in shown.getvalue() and "3/3" in shown.getvalue()
    assert hidden.getvalue() == ""


def test_repair_restores_a_vector_missing_from_the_scoped_copy(store, settings):
    target = store.search("cello", user_id="alice", limit=1).results[0].id
    path = settings.data_dir / CHROMA_DIR / scoped_file(settings.vector.collection)
    copy = ScopedVectors(path, store.embedder.dimension)  # the embedded collection's copy
    copy.delete([target])
    copy.close()
    flt = MemoryFilter(scope=Scope(user_id="alice"), exclude_stages=("archived",))
    assert target not in store.searcher.dense(store.embedder.embed_query("cello"), flt, 10)
    assert store.index_report().missing == [target]
    assert store.repair_index().missing == []
    assert store.search("cello", user_id="alice", limit=1).results[0].id == target

"""The ledger queries behind hybrid search: session neighbours, term matches, keyword scores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcp_memory.ledger import Ledger
from mcp_memory.models import EventKind, Memory, Scope, Stage
from mcp_memory.policy.validation import content_hash
from mcp_memory.search.context import neighbours_in
from mcp_memory.store.records import MemoryFilter
from tests.ledgers import LEDGER_ENGINES, open_ledger, reopen

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _memory(content: str, seconds: int, session: str | None = "s1", user: str = "u1") -> Memory:
    return Memory(
        id=uuid.uuid4().hex, content=content, user_id=user, session_id=session,
        memory_type="episodic", category="general", metadata={}, importance_score=0.5,
        retention="medium_term", lifecycle_stage=Stage.active, access_count=0,
        created_at=T0 + timedelta(seconds=seconds), updated_at=T0, version=1,
    )  # fmt: skip


@pytest.fixture(params=LEDGER_ENGINES)
def ledger(request: pytest.FixtureRequest, tmp_path: Path):
    """Each test on each ledger engine; ``reopen`` is another process's handle on it."""
    led = open_ledger(request.param, request, tmp_path)
    yield led
    led.close()


TERM_COUNT_SQL = ("COUNT(*) FROM memories_fts", "words_query(t.term)")
"""How each engine's ledger counts a term's documents (a read these tests count)."""


def _add(ledger: Ledger, memory: Memory) -> str:
    assert ledger.insert_unless_duplicate(memory, content_hash(memory.content)) is None
    return memory.id


USER = MemoryFilter(scope=Scope(user_id="u1"), exclude_stages=(Stage.archived.value,))


def test_neighbours_follow_created_at_order_not_insertion_order(ledger) -> None:
    c = _add(ledger, _memory("third", 2))
    a = _add(ledger, _memory("first", 0))
    b = _add(ledger, _memory("second", 1))
    _add(ledger, _memory("other session", 1, session="s2"))
    lone = _add(ledger, _memory("no session", 1, session=None))
    found = _around(ledger, [a, b, lone], 2, USER)
    assert sorted(found[a]) == [(1, b), (2, c)]
    assert sorted(found[b]) == [(-1, a), (1, c)]
    assert lone not in found


def test_a_later_memory_becomes_its_predecessors_context(ledger) -> None:
    a = _add(ledger, _memory("question", 0))
    assert _around(ledger, [a], 1, USER) == {}
    b = _add(ledger, _memory("answer", 1))
    assert _around(ledger, [a], 1, USER) == {a: [(1, b)]}


def test_neighbours_skip_archived_and_deleted_memories(ledger) -> None:
    ids = [_add(ledger, _memory(f"turn {i}", i)) for i in range(4)]
    archived = ledger.get(ids[1]).model_copy(update={"lifecycle_stage": Stage.archived})
    ledger.save(archived, content_hash(archived.content), EventKind.ARCHIVE)
    ledger.delete(ledger.get(ids[2]), T0)
    assert _around(ledger, [ids[0]], 1, USER) == {ids[0]: [(1, ids[3])]}
    everything = MemoryFilter(scope=Scope(user_id="u1"))
    assert _around(ledger, [ids[0]], 1, everything) == {ids[0]: [(1, ids[1])]}


def _matches(ledger, terms, ids):
    return _hits(ledger, terms, ids), ledger.term_counts(terms, USER.scope)


def _hits(ledger, terms, ids):
    return ledger.term_hits(terms, ledger.candidates(ids, MemoryFilter()), USER.scope)


def test_term_matches_are_stemmed_and_counted_within_the_scope(ledger) -> None:
    a = _add(ledger, _memory("She was painting sunsets", 0))
    b = _add(ledger, _memory("He paints too", 1))
    _add(ledger, _memory("Painted walls", 2, user="u2"))
    c = _add(ledger, _memory("Nothing here", 3))
    hits = _hits(ledger, ["painted", "sunset"], [a, b, c])
    counts = ledger.term_counts(["painted", "sunset"], USER.scope)
    assert hits == {"painted": {a, b}, "sunset": {a}}
    assert counts == {"painted": 2, "sunset": 1}
    archived = ledger.get(b).model_copy(update={"lifecycle_stage": Stage.archived})
    ledger.save(archived, content_hash(archived.content), EventKind.ARCHIVE)
    assert _matches(ledger, ["painted"], [a]) == ({"painted": {a}}, {"painted": 2})


def test_term_matches_and_keyword_search_follow_content_updates(ledger) -> None:
    a = _add(ledger, _memory("The blue kite flew high", 0))
    assert _matches(ledger, ["kite"], [a]) == ({"kite": {a}}, {"kite": 1})
    changed = ledger.get(a).model_copy(update={"content": "The red balloon rose"})
    ledger.save(changed, content_hash(changed.content), EventKind.UPDATE)
    assert _matches(ledger, ["kite"], [a]) == ({"kite": set()}, {"kite": 0})
    assert [i for i, _ in ledger.keyword_search(["balloon"], USER, 5)] == [a]
    assert ledger.keyword_search(["kite"], USER, 5) == []


def test_term_counts_are_read_once_per_change_of_the_keyword_index(ledger):
    """A term's document count is kept until a memory is added, deleted, moved or its text
    changes, by this connection or another; touching access counts keeps it."""
    a = _add(ledger, _memory("The kite flew", 0))
    with ledger.traced() as statements:
        assert ledger.term_counts(["kite"], USER.scope) == {"kite": 1}
        assert ledger.term_counts(["kite"], USER.scope) == {"kite": 1}
        ledger.touch([a], T0)
        assert ledger.term_counts(["kite"], USER.scope) == {"kite": 1}
        assert _counted(statements) == 1
        other = reopen(ledger)
        try:
            _add(other, _memory("Another kite", 1))
            assert ledger.term_counts(["kite"], USER.scope) == {"kite": 2}
            moved = other.get(a).model_copy(update={"user_id": "u2"})
            other.save(moved, content_hash(moved.content), EventKind.UPDATE)
            assert ledger.term_counts(["kite"], USER.scope) == {"kite": 1}
            changed = other.get(a).model_copy(update={"user_id": "u1", "content": "A red balloon"})
            other.save(changed, content_hash(changed.content), EventKind.UPDATE)
            assert ledger.term_counts(["kite"], USER.scope) == {"kite": 1}
            assert ledger.term_counts(["balloon"], USER.scope) == {"balloon": 1}
            other.delete(other.get(a), T0)
            assert ledger.term_counts(["balloon"], USER.scope) == {"balloon": 0}
        finally:
            other.close()
        assert ledger.term_counts(["kite"], Scope(user_id="u2")) == {"kite": 0}
    assert _counted(statements) == 7


def _counted(statements: list[str]) -> int:
    """How many of these statements counted a term's documents in the keyword index."""
    return sum(any(m in sql for m in TERM_COUNT_SQL) for sql in statements)


def _around(ledger, ids, window, flt):
    """Each id's neighbours within ``window`` places in its session, as search reads them."""
    return neighbours_in(ledger.sessions(ids, flt), ids, window)


def test_session_members_follow_changes_by_any_process_but_not_reads(ledger) -> None:
    """Members are kept per session version: every change made through another connection
    (another process) is seen at once; a search touching access counts changes no version."""
    a = _add(ledger, _memory("first", 0))
    b = _add(ledger, _memory("second", 1))
    assert [s.members for s in ledger.sessions([a], USER)] == [(a, b)]
    version = ledger.sessions([a], USER)[0].stamp
    ledger.touch([a, b], T0)
    assert ledger.sessions([a], USER)[0].stamp == version
    other = reopen(ledger)
    try:
        c = _add(other, _memory("third", 2))
        assert ledger.sessions([a], USER)[0].members == (a, b, c)
        archived = other.get(b).model_copy(update={"lifecycle_stage": Stage.archived})
        other.save(archived, content_hash(archived.content), EventKind.ARCHIVE)
        assert ledger.sessions([a], USER)[0].members == (a, c)
        everything = MemoryFilter(scope=Scope(user_id="u1"))
        assert ledger.sessions([a], everything)[0].members == (a, b, c)
        moved = other.get(c).model_copy(update={"session_id": "s2"})
        other.save(moved, content_hash(moved.content), EventKind.UPDATE)
        assert ledger.sessions([a], USER)[0].members == (a,)
        assert ledger.sessions([c], USER)[0].members == (c,)
        other.delete(other.get(a), T0)
        assert ledger.sessions([a, c], USER)[0].members == (c,)
    finally:
        other.close()


def test_candidates_come_with_the_terms_each_holds_as_read_apart(ledger) -> None:
    """``candidates_with_terms`` (one statement on PostgreSQL) answers what ``candidates`` and
    ``term_hits`` answer in turn, and leaves out a memory the filter drops."""
    a = _add(ledger, _memory("She was painting sunsets", 0))
    b = _add(ledger, _memory("He paints too", 1))
    c = _add(ledger, _memory("Nothing here", 2))
    d = _add(ledger, _memory("Painted sunset walls", 3, user="u2"))
    rows, hits = ledger.candidates_with_terms([a, b, c, d], USER, ["painted", "sunset"])
    assert rows == ledger.candidates([a, b, c, d], USER) and set(rows) == {a, b, c}
    assert hits == _hits(ledger, ["painted", "sunset"], [a, b, c])
    assert hits == {"painted": {a, b}, "sunset": {a}}
    assert ledger.candidates_with_terms([a], USER, []) == (ledger.candidates([a], USER), {})
    assert ledger.candidates_with_terms([], USER, ["painted"]) == ({}, {"painted": set()})

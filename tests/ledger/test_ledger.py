import sqlite3
from datetime import UTC, datetime, timedelta

from mcp_memory.ledger import Ledger
from mcp_memory.ledger.migrations import MIGRATIONS, split_sql
from mcp_memory.models import EventKind, ListOrder, Memory, Scope, Stage
from mcp_memory.policy.validation import content_hash
from mcp_memory.store.records import MemoryFilter

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def memory(mid: str, content: str, **kw) -> Memory:
    base = dict(
        id=mid,
        content=content,
        memory_type="semantic",
        category="general",
        importance_score=0.5,
        retention="medium_term",
        lifecycle_stage=Stage.active,
        access_count=0,
        created_at=T0,
        updated_at=T0,
        version=1,
    )
    return Memory(**{**base, **kw})


def insert(ledger: Ledger, m: Memory) -> Memory | None:
    return ledger.insert_unless_duplicate(m, content_hash(m.content))


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "l.db"
    Ledger(path).close()
    ledger = Ledger(path)
    assert ledger.schema_version == len(MIGRATIONS)


def test_insert_records_history_and_queues_index(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    assert insert(ledger, memory("m1", "Alpha beta", user_id="u")) is None
    assert ledger.get("m1").user_id == "u"
    assert [e.event for e in ledger.history("m1")] == [EventKind.ADD]
    assert ledger.pending_index() == [("m1", "upsert")]
    ledger.mark_indexed([("m1", "upsert")])
    assert ledger.count_pending() == 0


def test_duplicate_only_within_the_same_scope(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    insert(ledger, memory("m1", "Same text", user_id="u"))
    assert insert(ledger, memory("m2", "same   TEXT", user_id="u")).id == "m1"
    assert insert(ledger, memory("m3", "Same text", user_id="v")) is None
    assert ledger.get("m2") is None


def test_filters(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    insert(ledger, memory("a", "one", user_id="u", metadata={"p": "x", "n": 2, "ok": True}))
    insert(
        ledger, memory("b", "two", user_id="u", agent_id="bot", created_at=T0 + timedelta(days=2))
    )
    insert(ledger, memory("c", "three", user_id="v", lifecycle_stage=Stage.archived))
    ids = lambda **kw: set(ledger.ids(MemoryFilter(**kw)))  # noqa: E731
    assert ids(scope=Scope(user_id="u")) == {"a", "b"}
    assert ids(scope=Scope(agent_id="bot")) == {"b"}
    assert ids(metadata={"p": "x"}) == {"a"}
    assert ids(metadata={"n": 2, "ok": True}) == {"a"}
    assert ids(metadata={"p": "y"}) == set()
    assert ids(since=T0 + timedelta(days=1)) == {"b"}
    assert ids(until=T0 + timedelta(days=1)) == {"a", "c"}
    assert ids(exclude_stages=("archived",)) == {"a", "b"}
    assert ids(stages=("archived",)) == {"c"}


def test_query_pages_and_orders(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    for i in range(5):
        insert(
            ledger,
            memory(
                f"m{i}", f"text {i}", importance_score=i / 10, created_at=T0 + timedelta(hours=i)
            ),
        )
    page, total = ledger.query(MemoryFilter(), ListOrder.created, limit=2, offset=1)
    assert total == 5 and [m.id for m in page] == ["m3", "m2"]
    page, _ = ledger.query(MemoryFilter(), ListOrder.importance, limit=1)
    assert page[0].id == "m4"


def test_keyword_index_follows_updates_and_deletes(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    m = memory("k", "The zebra crossed the road")
    insert(ledger, m)
    assert [i for i, _ in ledger.keyword_search(["zebras"], MemoryFilter(), 5)] == ["k"]
    changed = m.model_copy(update={"content": "A giraffe crossed the road", "version": 2})
    ledger.save(changed, content_hash(changed.content), EventKind.UPDATE)
    assert ledger.keyword_search(["zebra"], MemoryFilter(), 5) == []
    assert [i for i, _ in ledger.keyword_search(["giraffe"], MemoryFilter(), 5)] == ["k"]
    ledger.delete(changed, T0)
    assert ledger.keyword_search(["giraffe"], MemoryFilter(), 5) == []
    assert [e.event for e in ledger.history("k")] == [
        EventKind.ADD,
        EventKind.UPDATE,
        EventKind.DELETE,
    ]
    assert ledger.pending_index()[-1] == ("k", "delete")


def test_touch_counts_accesses(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    insert(ledger, memory("t", "touch me"))
    ledger.touch(["t", "t"], T0 + timedelta(days=1))
    got = ledger.get("t")
    assert got.access_count == 2 and got.last_accessed == T0 + timedelta(days=1)


def test_keyword_terms_are_quoted_and_every_asks_for_all_of_them(tmp_path):
    """Terms are matched as words, never read as FTS5 syntax; ``every`` needs all of them."""
    ledger = Ledger(tmp_path / "l.db")
    insert(ledger, memory("a", "Grilled salmon tonight"))
    insert(ledger, memory("b", "Grilled cheese"))
    everyone = MemoryFilter()
    assert {i for i, _ in ledger.keyword_search(["salmon", "cheese"], everyone, 5)} == {"a", "b"}
    both = ledger.keyword_search(["grilled", "salmon"], everyone, 5, every=True)
    assert [i for i, _ in both] == ["a"]
    odd = ledger.keyword_search(['gril"led', "NOT", "(", "sal*", "OR"], everyone, 5)
    assert {i for i, _ in odd} == {"a", "b"}  # only 'grilled' matches


def test_scoped_keyword_search_reads_its_scope_whatever_the_ids(tmp_path):
    """The keyword index holds each memory's scope as tokens: odd ids (quotes, spaces,
    accents, ids that prefix one another) must neither leak nor lose a match."""
    ledger = Ledger(tmp_path / "l.db")
    users = ["Zoë O'Brien", 'say "hi"', "u-1", "u-10", "u 1", ""]
    for n, user in enumerate(users):
        for session in ("s1", "s2"):
            insert(ledger, memory(f"{n}{session}", f"zebra note of {n} {session}", user_id=user, session_id=session))  # fmt: skip
    for n, user in enumerate(users[:-1]):
        scoped = MemoryFilter(scope=Scope(user_id=user))
        assert {i for i, _ in ledger.keyword_search(["zebra"], scoped, 50)} == {f"{n}s1", f"{n}s2"}
        rows = ledger.candidates([f"{n}s1", "0s1"], MemoryFilter())
        hits = ledger.term_hits(["zebra"], rows, scoped.scope)
        counts = ledger.term_counts(["zebra"], scoped.scope)
        assert counts == {"zebra": 2} and hits["zebra"] == {f"{n}s1"}
        one = MemoryFilter(scope=Scope(user_id=user, session_id="s2"))
        assert [i for i, _ in ledger.keyword_search(["zebra"], one, 50)] == [f"{n}s2"]
    assert len(ledger.keyword_search(["zebra"], MemoryFilter(), 50)) == 2 * len(users)


def test_moving_a_memory_to_another_scope_moves_its_keywords(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    m = memory("k", "The zebra crossed the road", user_id="a")
    insert(ledger, m)
    moved = m.model_copy(update={"user_id": "b", "version": 2})
    ledger.save(moved, content_hash(moved.content), EventKind.UPDATE)
    assert ledger.keyword_search(["zebra"], MemoryFilter(scope=Scope(user_id="a")), 5) == []
    found = ledger.keyword_search(["zebra"], MemoryFilter(scope=Scope(user_id="b")), 5)
    assert [i for i, _ in found] == ["k"]
    assert ledger.keyword_index_ok() and ledger.keyword_index_ok(full=False)


def test_the_quick_keyword_check_sees_a_document_missing_from_the_index(tmp_path):
    ledger = Ledger(tmp_path / "l.db")
    insert(ledger, memory("k", "The zebra crossed the road", user_id="a"))
    assert ledger.keyword_index_ok(full=False)
    with ledger.transaction() as conn:
        conn.execute("INSERT INTO memories_fts(memories_fts) VALUES ('delete-all')")
    assert not ledger.keyword_index_ok(full=False)
    ledger.rebuild_keyword_index()
    assert ledger.keyword_index_ok(full=False) and ledger.keyword_index_ok()


def test_a_store_from_before_the_scoped_keyword_index_is_migrated(tmp_path):
    path = tmp_path / "l.db"
    ledger = Ledger(path)
    insert(ledger, memory("k", "The zebra crossed the road", user_id="a"))
    ledger.close()
    with sqlite3.connect(path) as conn:  # the store as migration 5 left it
        for statement in split_sql(OLD_KEYWORD_INDEX):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 5")
    conn.close()
    ledger = Ledger(path)
    assert ledger.schema_version == len(MIGRATIONS)
    found = ledger.keyword_search(["zebra"], MemoryFilter(scope=Scope(user_id="a")), 5)
    assert [i for i, _ in found] == ["k"] and ledger.keyword_index_ok()


OLD_KEYWORD_INDEX = (
    """
DROP TRIGGER session_versions_insert;
DROP TRIGGER session_versions_delete;
DROP TRIGGER session_versions_update;
DROP TABLE session_versions;
DROP TRIGGER memories_fts_insert;
DROP TRIGGER memories_fts_delete;
DROP TRIGGER memories_fts_unindex;
DROP TRIGGER memories_fts_reindex;
DROP TABLE memories_fts;
DROP VIEW memories_fts_source;
"""
    + MIGRATIONS[1].sql
)

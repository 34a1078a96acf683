"""The PostgreSQL ledger on a real server: what many servers sharing one database rely on
(one migration, one memory per text and scope whoever adds it, locks that order writers), and
where it must answer as the SQLite ledger answers (filters, stemming, odd scope ids)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from mcp_memory.models import EventKind, Scope
from mcp_memory.postgres.migrations import MIGRATIONS
from mcp_memory.store.records import MemoryFilter
from tests.engines import fresh_schema
from tests.ledger.test_ledger import T0, insert, memory
from tests.ledgers import LEDGER_ENGINES, open_ledger, open_postgres, reopen

DEADLINE_S = 30.0


@pytest.fixture
def ledger(postgres_dsn):
    led = open_postgres(postgres_dsn, fresh_schema())
    yield led
    led.close()


@pytest.fixture(params=LEDGER_ENGINES)
def any_ledger(request, tmp_path):
    led = open_ledger(request.param, request, tmp_path)
    yield led
    led.close()


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``DEADLINE_S``."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # poll interval of a bounded wait, not a synchronisation


def test_servers_starting_together_apply_each_migration_once(postgres_dsn):
    schema = fresh_schema()
    start = threading.Barrier(4)

    def start_one(_):
        start.wait(DEADLINE_S)
        return open_postgres(postgres_dsn, schema)

    with ThreadPoolExecutor(4) as pool:
        ledgers = list(pool.map(start_one, range(4)))
    try:
        applied = ledgers[0].db.read("SELECT version FROM schema_migrations ORDER BY version")
        assert [row[0] for row in applied] == list(range(1, len(MIGRATIONS) + 1))
        assert {led.schema_version for led in ledgers} == {len(MIGRATIONS)}
    finally:
        for led in ledgers:
            led.close()


def test_an_add_racing_an_uncommitted_add_of_the_same_text_waits_and_returns_it(ledger):
    """Another server's add of the same text, not yet committed, is invisible to a read:
    the unique index makes the second add wait for it, then return it."""
    other = reopen(ledger)
    watcher = ledger.db.connect()
    found = {}
    try:
        with ledger.db.held("test"):
            assert (
                insert(ledger, memory("m1", "The spare key is under the mat", user_id="u")) is None
            )
            racer = threading.Thread(
                target=lambda: found.setdefault(
                    "m", insert(other, memory("m2", "the spare KEY is under the mat", user_id="u"))
                )
            )
            racer.start()
            wait_for(lambda: _waiting_inserts(watcher) == 1, "the second add to wait on the first")
        racer.join(DEADLINE_S)
        assert found["m"].id == "m1"
        assert ledger.get("m2") is None and ledger.count(MemoryFilter()) == 1
        assert ledger.pending_index() == [("m1", "upsert")]
    finally:
        watcher.close()
        other.close()


def _waiting_inserts(conn) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE '%%INSERT INTO memories%%'"
    ).fetchone()[0]


def test_many_servers_adding_the_same_text_at_once_store_it_once(ledger):
    servers = [ledger, *(reopen(ledger) for _ in range(3))]
    start = threading.Barrier(12)

    def add(n: int) -> str:
        start.wait(DEADLINE_S)
        m = memory(f"m{n}", "Meeting moved to Thursday", user_id="u")
        existing = insert(servers[n % 4], m)
        return m.id if existing is None else existing.id

    try:
        with ThreadPoolExecutor(12) as pool:
            ids = set(pool.map(add, range(12)))
        assert len(ids) == 1 and ledger.count(MemoryFilter()) == 1
        assert [e.event for e in ledger.history(ids.pop())] == [EventKind.ADD]
    finally:
        for server in servers[1:]:
            server.close()


def test_an_update_may_give_a_memory_the_text_of_another_and_an_add_then_finds_one(ledger):
    insert(ledger, memory("a", "Tea at five", user_id="u"))
    insert(ledger, memory("b", "Coffee at six", user_id="u"))
    twin = ledger.get("b").model_copy(update={"content": "tea at FIVE", "version": 2})
    from mcp_memory.policy.validation import content_hash

    ledger.save(twin, content_hash(twin.content), EventKind.UPDATE)
    assert {m.content for m in ledger.all_memories(MemoryFilter())} == {
        "Tea at five",
        "tea at FIVE",
    }
    assert insert(ledger, memory("c", "Tea at five", user_id="u")).id == "a"
    ledger.delete(ledger.get("a"), T0)
    assert insert(ledger, memory("d", "Tea at five", user_id="u")).id == "b"


def test_concurrent_touches_of_the_same_memories_all_count(ledger):
    for n in range(5):
        insert(ledger, memory(f"m{n}", f"memory number {n}"))
    servers = [ledger, reopen(ledger)]
    ids = [f"m{n}" for n in range(5)]

    def touch(n: int) -> None:
        order = ids if n % 2 else list(reversed(ids))
        servers[n % 2].touch(order, T0 + timedelta(seconds=n))

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(touch, range(40)))
        servers[1].get(ids[0])  # each server's counts are written after it answers
        assert {ledger.get(i).access_count for i in ids} == {40}
        assert sum(len(v) for v in ledger.accesses_since(ids, T0).values()) == 200
    finally:
        servers[1].close()


def test_metadata_filters_compare_as_in_the_sqlite_ledger(any_ledger):
    insert(any_ledger, memory("a", "one", metadata={"p": "x", "n": 2, "ok": True, "f": 1.5}))
    insert(any_ledger, memory("b", "two", metadata={"p": "2", "n": 2.0, "ok": 1, "none": None}))
    ids = lambda **meta: set(any_ledger.ids(MemoryFilter(metadata=meta)))  # noqa: E731
    assert ids(p="x") == {"a"} and ids(p="2") == {"b"} and ids(p=2) == set()
    assert ids(n=2) == {"a", "b"} and ids(f=1.5) == {"a"}
    assert ids(ok=True) == {"a", "b"} and ids(ok=False) == set()
    assert ids(none=None) == set() and ids(missing="x") == set()


def test_metadata_lists_and_objects_compare_as_json(ledger):
    insert(ledger, memory("a", "one", metadata={"tags": ["x", "y"], "o": {"k": 1}}))
    assert ledger.ids(MemoryFilter(metadata={"tags": ["x", "y"]})) == ["a"]
    assert ledger.ids(MemoryFilter(metadata={"tags": ["y", "x"]})) == []
    assert ledger.ids(MemoryFilter(metadata={"o": {"k": 1}})) == ["a"]


@pytest.mark.parametrize(
    ("content", "term"),
    [
        ("Good news for everyone", "new"),  # Porter: news -> new (Snowball english keeps news)
        ("She donated generously", "generous"),  # Porter: gener
        ("Clear skies all week", "ski"),
        ("Mail bob@example.com today", "example"),  # punctuation splits, as unicode61 does
        ("Release v2.5 is out", "v2"),
        ("Alice's sister", "alice's"),  # a phrase of its words
        ("snake_case names", "snake_case"),
        ("Grilled salmon tonight", 'gril"led'),  # quotes are dropped, never syntax
    ],
)
def test_stemming_and_word_splitting_agree_with_the_sqlite_ledger(any_ledger, content, term):
    insert(any_ledger, memory("k", content))
    assert [i for i, _ in any_ledger.keyword_search([term], MemoryFilter(), 5)] == ["k"]
    assert any_ledger.term_counts([term], Scope()) == {term: 1}


def test_query_syntax_never_leaks(any_ledger):
    insert(any_ledger, memory("a", "Grilled salmon tonight"))
    insert(any_ledger, memory("b", "Grilled cheese"))
    odd = any_ledger.keyword_search(
        ['gril"led', "NOT", "(", "sal*", "OR", "&", "!"], MemoryFilter(), 5
    )
    assert {i for i, _ in odd} == {"a", "b"}
    both = any_ledger.keyword_search(["grilled", "salmon"], MemoryFilter(), 5, every=True)
    assert [i for i, _ in both] == ["a"]


def test_scoped_keyword_search_keeps_odd_scope_ids_apart(any_ledger):
    users = ["Zoë O'Brien", 'say "hi"', "u-1", "u-10", "u 1", "%_\\", ""]
    for n, user in enumerate(users):
        for session in ("s1", "s2"):
            insert(any_ledger, memory(f"{n}{session}", f"zebra note of {n} {session}", user_id=user, session_id=session))  # fmt: skip
    for n, user in enumerate(users[:-1]):
        scoped = MemoryFilter(scope=Scope(user_id=user))
        assert {i for i, _ in any_ledger.keyword_search(["zebra"], scoped, 50)} == {
            f"{n}s1",
            f"{n}s2",
        }
        rows = any_ledger.candidates([f"{n}s1", "0s1"], MemoryFilter())
        assert any_ledger.term_hits(["zebra"], rows, scoped.scope)["zebra"] == {f"{n}s1"}
        assert any_ledger.term_counts(["zebra"], scoped.scope) == {"zebra": 2}
        one = MemoryFilter(scope=Scope(user_id=user, session_id="s2"))
        assert [i for i, _ in any_ledger.keyword_search(["zebra"], one, 50)] == [f"{n}s2"]


def test_keyword_search_ranks_rare_words_and_short_memories_first(ledger):
    for n in range(6):
        insert(ledger, memory(f"c{n}", f"coffee note number {n} about the office"))
    insert(ledger, memory("rare", "the kettle and the coffee"))
    insert(ledger, memory("long", "kettle " + "padding words " * 30))
    found = [i for i, _ in ledger.keyword_search(["coffee", "kettle"], MemoryFilter(), 3)]
    assert found[0] == "rare" and found[1] == "long"


def test_the_keyword_index_check_and_rebuild(ledger):
    insert(ledger, memory("k", "The zebra crossed the road"))
    assert ledger.keyword_index_ok() and ledger.keyword_index_ok(full=False)
    ledger.rebuild_keyword_index()
    assert [i for i, _ in ledger.keyword_search(["zebra"], MemoryFilter(), 5)] == ["k"]


def test_store_wide_term_counts_stay_exact_through_every_change(ledger):
    """Counts over the whole store and over a user's memories come from per-word counts kept
    by triggers: after adds, an import batch, updates, touches, a merge, a delete and a move
    to another user they equal a count of the documents."""
    from mcp_memory.policy.validation import content_hash
    from mcp_memory.store.records import ImportRow

    insert(ledger, memory("a", "The kettle boils water quickly", user_id="u"))
    insert(ledger, memory("b", "A kettle and a teapot", user_id="v"))
    ledger.import_batch(
        [
            ImportRow(
                memory(f"i{n}", f"Imported kettle note {n} bye bye", user_id="w"),
                content_hash(f"i{n}"),
            )
            for n in range(3)
        ]
    )
    changed = ledger.get("a").model_copy(update={"content": "The teapot is ceramic", "version": 2})
    ledger.save(changed, content_hash(changed.content), EventKind.UPDATE)
    ledger.touch(["b", "i0"], T0)
    kept = ledger.get("b").model_copy(
        update={"content": "A kettle, a teapot and a mug", "version": 2}
    )
    ledger.merge(kept, content_hash(kept.content), [ledger.get("i1")], T0, {})
    ledger.delete(ledger.get("i2"), T0)
    terms = ["kettle", "teapot", "water", "mug", "imported", "bye", "bye-bye", "alice's", ""]
    moved = ledger.get("i0").model_copy(update={"user_id": "v", "version": 2})
    ledger.save(moved, content_hash(moved.content), EventKind.UPDATE)
    scopes = [Scope(), *(Scope(user_id=u) for u in ("u", "v", "w", "nobody"))]

    def counted(scope):
        where = "" if scope.user_id is None else "user_id = %s AND "
        given = [] if scope.user_id is None else [scope.user_id]
        sql = f"SELECT count(*) FROM memories WHERE {where}words @@ words_query(%s)"
        return {term: ledger.db.read(sql, [*given, term])[0][0] for term in terms}

    expected = {scope: counted(scope) for scope in scopes}
    assert {scope: ledger.term_counts(terms, scope) for scope in scopes} == expected
    assert expected[Scope()]["kettle"] == 2 and expected[Scope(user_id="v")]["kettle"] == 2
    ledger.rebuild_keyword_index()
    assert {scope: ledger.term_counts(terms, scope) for scope in scopes} == expected

"""Several servers on one database, in one process (each with its own pool, as separate
processes would have): consolidation locks, the schedule run once, each server seeing the
others' writes at once. tests/integration/test_postgres_servers.py does the same with real
``mcp-memory serve`` processes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from mcp_memory.factory import build_service
from mcp_memory.models import Scope
from tests.engines import fresh_schema
from tests.ledgers import open_postgres, reopen
from tests.postgres.test_faults import postgres_settings
from tests.postgres.test_ledger import DEADLINE_S, wait_for


@pytest.fixture
def servers(tmp_path, postgres_dsn, embedder, clock):
    settings = postgres_settings(tmp_path, postgres_dsn)
    started = [build_service(settings, embedder=embedder, clock=clock) for _ in range(3)]
    yield started
    for service in started:
        service.close()


def _lock_waiters(conn) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()[0]


def test_consolidation_locks_overlapping_scopes_only(postgres_dsn):
    first = open_postgres(postgres_dsn, fresh_schema())
    second = reopen(first)
    watcher = first.db.connect()
    order: list[str] = []
    try:
        with first.consolidating(Scope(user_id="ann")):
            with second.consolidating(Scope(user_id="bob")):
                order.append("bob alongside ann")
            waiting = threading.Thread(target=_run_whole, args=(second, order))
            waiting.start()
            wait_for(lambda: _lock_waiters(watcher) == 1, "the run over everything to wait")
            order.append("ann done")
        waiting.join(DEADLINE_S)
        assert order == ["bob alongside ann", "ann done", "everything"]
    finally:
        watcher.close()
        second.close()
        first.close()


def _run_whole(ledger, order: list[str]) -> None:
    with ledger.consolidating(Scope()):
        order.append("everything")


def test_servers_consolidating_at_once_merge_each_duplicate_once(servers):
    a, b, c = servers
    keep = a.add("The user's dog is called Biscuit", user_id="u").id
    b.add("The user's dog is named Biscuit", user_id="u")
    c.add("Tea is preferred over coffee", user_id="u")
    start = threading.Barrier(3)

    def consolidate(service):
        start.wait(DEADLINE_S)
        return service.consolidate(user_id="u")

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(consolidate, servers))
    assert sum(r.duplicates_merged for r in results) == 1
    assert a.stats(user_id="u").total_memories == 2 and b.get(keep).memory.version == 2


def test_the_scheduled_consolidation_runs_on_one_server(servers, clock):
    a = servers[0]
    a.add("Moved to Lisbon in 2019", user_id="ann", created_at=clock() - timedelta(days=30))
    start = threading.Barrier(3)

    def scheduled(service):
        start.wait(DEADLINE_S)
        return service.consolidator.run_if_due(Scope(), timedelta(hours=6))

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(scheduled, servers))
    assert sum(r is not None for r in results) == 1
    assert len(a.ledger.recent_runs()) == 1
    clock.advance(hours=4)  # more than half the interval: due again, once
    assert [scheduled_once(s) for s in servers].count(None) == 2


def scheduled_once(service):
    return service.consolidator.run_if_due(Scope(), timedelta(hours=6))


def test_each_server_sees_the_others_writes_at_once(servers):
    a, b, c = servers
    added = a.add("The spare key hangs behind the blue door", user_id="u").id
    assert b.search("where is the spare key?", user_id="u").results[0].id == added
    c.update(added, content="The spare key is now in the kitchen drawer")
    top = a.search("where is the spare key?", user_id="u").results[0]
    assert top.id == added and "kitchen" in top.content
    b.delete(added)
    assert all(not s.search("spare key", user_id="u").results for s in servers)
    assert c.stats().index_in_sync and c.stats().vectors_indexed == 0

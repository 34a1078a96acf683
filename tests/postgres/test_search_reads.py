"""What one search within a scope asks of PostgreSQL: each statement is a round trip to another
process (and, under load, a wake-up of its backend), so a search reads each thing once: the
scope's size once (dense search and the keyword idf share it), a session's members in one row
per session and each session once, its order verdict with its version, the candidates' rows
with the query terms each holds, and the whole search within a budget of statements."""

from __future__ import annotations

import pytest

from mcp_memory.factory import build_service
from tests.postgres.test_faults import postgres_settings

BUDGET = 17
"""Statements of a scoped search with nothing cached, its access count included, when its
best keyword matches and its nearest lie in two sessions: each side's sessions are read (and
judged, and their verdicts kept) apart, the keyword side's on the lookup thread while the
query is embedded."""


@pytest.fixture
def settings(tmp_path, postgres_dsn):
    return postgres_settings(tmp_path, postgres_dsn)


def test_a_scoped_search_reads_each_thing_once_within_a_budget(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        for n, text in enumerate(
            ["Ann flew her red kite on the beach", "The kite string snapped in the wind",
             "Ann bought a new kite at the market", "Her brother prefers sailing boats"]
        ):  # fmt: skip
            service.add(text, user_id="ann", session_id=f"s{n % 2}")
            clock.advance(minutes=1)
        service.add("Bob keeps bees", user_id="bob", session_id="s0")
        service.flush()
    finally:
        service.close()
    fresh = build_service(settings, embedder=embedder, clock=clock)  # nothing cached yet
    read_members = fresh.ledger._read_members
    sessions_read: list[tuple[str, str, str]] = []

    def members(keys, flt):
        sessions_read.extend(keys)
        return read_members(keys, flt)

    try:
        fresh.search("warm up the index handle", user_id="bob")
        fresh.ledger._read_members = members
        with fresh.ledger.traced() as statements:
            hits = fresh.search("where did Ann fly her kite?", user_id="ann").results
    finally:
        fresh.close()
    assert hits[0].content == "Ann flew her red kite on the beach"
    sizes = [s for s in statements if "FROM memory_counts" in s]
    assert len(sizes) == 2, sizes  # the filter's count, and the scope's size once
    assert sorted(sessions_read) == [("ann", "", "s0"), ("ann", "", "s1")]  # each once
    current = [s for s in statements if "FROM state" in s]
    assert len(current) == 1, current  # which vector index is current: read once a search
    verdicts = [s for s in statements if "session_orders" in s and not s.startswith("INSERT")]
    assert verdicts and all("JOIN session_versions" in s for s in verdicts), verdicts
    candidates = [s for s in statements if "SELECT id, content, importance_score" in s]
    assert len(candidates) == 1 and "words @@ t.q" in candidates[0], candidates
    assert not [s for s in statements if "m.seq = ANY" in s]  # no term-hit read of its own
    assert len(statements) <= BUDGET, "\n".join(statements)

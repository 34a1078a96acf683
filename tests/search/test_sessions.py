"""Conversation or notebook: the session-order test, its cache, and what it does to search."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mcp_memory.config import RankingSettings
from mcp_memory.errors import StoreUnavailable
from mcp_memory.ledger import Ledger
from mcp_memory.search import ranking
from mcp_memory.search.sessions import SessionOrders
from mcp_memory.store.records import Session

NOTES = [
    "Priya is allergic to shellfish and always asks about the ingredients.",
    "Priya works night shifts as a radiographer at the city hospital.",
    "Priya's car is a dark green hatchback she bought second hand.",
    "Priya plays the cello in an amateur orchestra on Wednesdays.",
    "Priya's brother Arjun is studying architecture in Delft.",
    "Priya wants invoices sent as PDF files, never as spreadsheets.",
    "Priya is saving up for a trip to Patagonia next winter.",
    "Priya drinks her coffee black with no sugar.",
    "Priya's flat is on the fourth floor and the lift is often broken.",
    "Priya prefers to be contacted by text message rather than by phone.",
    "Priya's manager is called Tomas and they meet on Mondays.",
    "Priya cycles to the hospital unless it is raining.",
]
# Each question with the first words of the note that answers it.
QUESTIONS = {
    "How does she commute to work?": "Priya cycles",
    "Is there any seafood she cannot eat?": "Priya is allergic",
    "What does she do for work?": "Priya works",
    "Which instrument does she play?": "Priya plays",
    "How should I send her the bill?": "Priya wants",
    "What is the best way to reach her?": "Priya prefers",
    "Where is her home in the building?": "Priya's flat",
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_a_drifting_conversation_has_order_and_a_shuffled_notebook_has_none() -> None:
    rng = np.random.default_rng(7)
    steps = [rng.normal(size=64)]
    for _ in range(39):
        steps.append(steps[-1] + 0.6 * rng.normal(size=64))
    chain = _unit(np.stack(steps))
    assert ranking.session_order(chain, 4) > 0.1
    assert abs(ranking.session_order(chain[rng.permutation(40)], 4)) < 0.05
    assert ranking.session_order(chain[:9], 4) is None
    assert ranking.session_order(chain[:10], 4) is not None
    assert ranking.order_trust(None, 0.01) == 1.0
    assert ranking.order_trust(-0.2, 0.01) == 0.0
    assert ranking.order_trust(0.005, 0.01) == 0.5
    assert ranking.order_trust(0.3, 0.01) == 1.0
    assert ranking.order_trust(-0.2, 0) == 1.0


def test_no_trust_ranks_a_session_memory_as_one_without_a_session() -> None:
    now = ranking.datetime(2026, 1, 1, tzinfo=ranking.UTC)
    weights = RankingSettings()
    pool = [
        ranking.Candidate("a", "Ann: tea", 0.6, 2.0, 0.5, now, in_session=True),
        ranking.Candidate("b", "Ann: coffee", 0.5, 0.0, 0.5, now, in_session=True),
        ranking.Candidate("c", "Ann: walks", 0.2, 1.0, 0.5, now, in_session=True),
    ]
    around = {"a": [(1, "b")], "b": [(-1, "a"), (1, "c")], "c": [(-1, "b")]}
    alone = [ranking.Candidate(c.id, c.content, c.similarity, c.keyword, 0.5, now) for c in pool]
    expected = ranking.rank("tea?", alone, {}, weights, now)
    notebook = ranking.rank("tea?", pool, around, weights, now, trust=dict.fromkeys("abc", 0.0))
    conversation = ranking.rank("tea?", pool, around, weights, now, trust={})
    assert [(s.id, s.score) for s in notebook] == [(s.id, s.score) for s in expected]
    assert [s.score for s in conversation] != [s.score for s in expected]


def _counting_reader(seed: int) -> tuple[Callable, list[int]]:
    """A vector reader over twelve random memories m0..m11, and the sizes of its reads."""
    rng = np.random.default_rng(seed)
    vectors = {f"m{i}": _unit(rng.normal(size=16)) for i in range(12)}
    reads: list[int] = []

    def read(ids):
        reads.append(len(ids))
        return {i: vectors[i] for i in ids}

    return read, reads


def test_the_verdict_is_kept_until_the_session_changes() -> None:
    read, reads = _counting_reader(3)
    orders = SessionOrders(read)
    weights = RankingSettings()
    first = Session(("u", "", "s"), tuple(f"m{i}" for i in range(10)), "2026-01-01T00:00:00")
    trust = orders.trust([first], weights)
    assert list(trust) == [first.key] and reads == [10]
    orders.trust([first], weights)
    assert reads == [10]
    grown = Session(first.key, (*first.members, "m10"), "2026-01-01T00:00:01")
    orders.trust([grown], weights)
    assert reads == [10, 11]
    edited = Session(first.key, grown.members, "2026-01-01T00:00:02")
    orders.trust([edited], weights)
    assert reads == [10, 11, 11]
    assert orders.trust([edited], RankingSettings(context_order_full=0)) == {}


def test_verdicts_kept_in_the_ledger_serve_a_new_process(tmp_path) -> None:
    read, reads = _counting_reader(5)
    ledger = Ledger(tmp_path / "l.db")
    weights = RankingSettings()
    conversation = Session(("u", "", "s"), tuple(f"m{i}" for i in range(10)), "1")
    short = Session(("u", "", "t"), ("m10", "m11"), "1")
    first = SessionOrders(read, store=ledger).trust([conversation, short], weights)
    assert reads == [10]
    again = SessionOrders(read, store=ledger).trust([conversation, short], weights)
    assert again == first and reads == [10]  # a new cache: the ledger had both verdicts
    changed = Session(conversation.key, conversation.members, "2")
    SessionOrders(read, store=ledger).trust([changed], weights)
    assert reads == [10, 10]  # another version of the session: judged again


def test_an_import_judges_the_sessions_it_fills(service) -> None:
    records = [{"content": note, "user_id": "p", "session_id": "notes"} for note in NOTES]
    service.import_records(records)
    kept = service.ledger.session_orders([("p", "", "notes")])
    assert list(kept) == [("p", "", "notes")] and kept[("p", "", "notes")][1] is not None
    reads: list[list[str]] = []
    service.searcher.orders = SessionOrders(
        lambda ids: reads.append(list(ids)) or {}, store=service.ledger
    )
    service.search("Which instrument does she play?")  # global: no scope read to judge from
    assert reads == []  # the search found the verdict the import kept


def test_an_import_stands_when_judging_its_sessions_fails(service, caplog) -> None:
    def unreachable(ids):
        raise StoreUnavailable("the vector index is down")

    service.searcher.orders = SessionOrders(unreachable, store=service.ledger)
    records = [{"content": note, "user_id": "q", "session_id": "notes"} for note in NOTES]
    assert service.import_records(records).imported == len(NOTES)
    assert service.ledger.session_orders([("q", "", "notes")]) == {}
    assert "not judged ahead" in caplog.text


def _tops(service, user: str) -> dict[str, str]:
    return {q: service.search(q, user_id=user, limit=3).results[0].content for q in QUESTIONS}


def test_facts_noted_in_one_session_rank_as_facts_without_one(service) -> None:
    """Without the order test, "work" in the first question would lift the note about her
    job through the keyword context of its neighbours, above the note on cycling."""
    for note in NOTES:
        service.add(note, user_id="alone", category="fact")
        service.add(note, user_id="noted", session_id="notes", category="fact")
    alone = _tops(service, "alone")
    assert {q: t.startswith(QUESTIONS[q]) for q, t in alone.items()} == dict.fromkeys(
        QUESTIONS, True
    )
    assert _tops(service, "noted") == alone

"""A search looks its keywords up on a thread of its own while it embeds the query: neither needs
the other, and each mostly waits (on the model's native code, on the database), so a search
costs the longer of the two rather than both."""

from __future__ import annotations

import threading
import uuid

import pytest

from mcp_memory.errors import StoreUnavailable
from tests.engines import ENGINES, engine_settings


@pytest.fixture(params=sorted(ENGINES))
def settings(request, tmp_path):
    """On every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path)


def _model_waits_for(event: threading.Event, service, monkeypatch) -> list[bool]:
    """Make the query's embedding wait for ``event``, which only another thread sets: the
    list returned gets, per embedding, whether the event came (False: it never did, so the
    work that sets it was not running beside the model)."""
    embed = service.embedder.embed_query
    overlapped: list[bool] = []

    def embed_query(text):
        overlapped.append(event.wait(timeout=30))
        return embed(text)

    monkeypatch.setattr(service.embedder, "embed_query", embed_query)
    return overlapped


def test_keywords_are_looked_up_while_the_query_is_embedded(service, monkeypatch):
    service.add("The kite festival is on the beach in June", user_id="ivy")
    service.add("Ivy repaired the kite string with fishing line", user_id="ivy")
    service.flush()
    looking_up = threading.Event()
    counts = service.ledger.term_counts

    def term_counts(*args, **kwargs):
        looking_up.set()
        return counts(*args, **kwargs)

    overlapped = _model_waits_for(looking_up, service, monkeypatch)
    monkeypatch.setattr(service.ledger, "term_counts", term_counts)
    query = f"when is the kite festival? {uuid.uuid4().hex[:6]}"  # not asked before
    hits = service.search(query, user_id="ivy").results
    assert overlapped == [True]
    assert hits[0].content == "The kite festival is on the beach in June"


def test_the_filter_is_counted_while_the_query_is_embedded(service, monkeypatch):
    """The dense search needs how many memories pass the filter (exact or graph search); the
    count is read on a lookup thread while the model runs, not after it."""
    service.add("Ivy planted tulips along the fence", user_id="ivy")
    service.flush()
    filtered = threading.Event()
    count = service.ledger.count

    def counted(flt):
        if flt.stages is not None or flt.memory_type is not None:  # the search's own filter
            filtered.set()
        return count(flt)

    overlapped = _model_waits_for(filtered, service, monkeypatch)
    monkeypatch.setattr(service.ledger, "count", counted)
    query = f"what grows by the fence? {uuid.uuid4().hex[:6]}"
    hits = service.search(query, user_id="ivy", memory_type="semantic").results
    assert overlapped == [True]
    assert hits[0].content == "Ivy planted tulips along the fence"


def test_the_sessions_of_the_best_matches_are_read_while_the_query_is_embedded(
    service, monkeypatch
):
    """The keyword side's best matches are known before the query's vector: their sessions
    are read on the lookup thread meanwhile, and the search thread reads only the sessions of
    its nearest that those do not hold (here none: one session holds everything)."""
    for text in ["Ivy launched the kite at dawn", "The kite climbed over the dunes"]:
        service.add(text, user_id="ivy", session_id="trip")
    service.flush()
    read_sessions = threading.Event()
    readers = []
    sessions = service.ledger.sessions

    def sessions_of(ids, flt):
        readers.append(threading.current_thread())
        read_sessions.set()
        return sessions(ids, flt)

    overlapped = _model_waits_for(read_sessions, service, monkeypatch)
    monkeypatch.setattr(service.ledger, "sessions", sessions_of)
    query = f"when did the kite launch? {uuid.uuid4().hex[:6]}"
    hits = service.search(query, user_id="ivy").results
    assert overlapped == [True]
    assert readers and threading.current_thread() not in readers
    assert {h.content for h in hits} == {
        "Ivy launched the kite at dawn",
        "The kite climbed over the dunes",
    }


def test_a_failed_lookup_fails_the_search_with_its_error(service, monkeypatch):
    service.add("Ivy keeps bees on the roof", user_id="ivy")
    service.flush()

    def unavailable(*args, **kwargs):
        raise StoreUnavailable("the ledger is away")

    monkeypatch.setattr(service.ledger, "term_counts", unavailable)
    with pytest.raises(StoreUnavailable, match="the ledger is away"):
        service.search("bees", user_id="ivy")
    monkeypatch.undo()
    assert service.search("bees", user_id="ivy").results  # nothing left behind


def test_a_query_asked_before_is_searched_in_one_thread(service, monkeypatch):
    """With the query's vector at hand there is no model to wait for: two threads would only
    contend for the interpreter."""
    service.add("Ivy's bees swarmed in May", user_id="ivy")
    service.flush()
    query = f"when did the bees swarm? {uuid.uuid4().hex[:6]}"
    first = service.search(query, user_id="ivy").results
    threads = []
    counts = service.ledger.term_counts

    def term_counts(*args, **kwargs):
        threads.append(threading.current_thread())
        return counts(*args, **kwargs)

    monkeypatch.setattr(service.ledger, "term_counts", term_counts)
    again = service.search(query, user_id="ivy").results
    assert threads == [threading.current_thread()]
    assert [h.id for h in again] == [h.id for h in first]
    service.search(f"who keeps bees? {uuid.uuid4().hex[:6]}", user_id="ivy")  # the model runs
    assert threads[-1] is not threading.current_thread()

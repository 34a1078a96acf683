"""A search looks its keywords up on a thread of its own while it embeds the query: neither needs
the other, and each mostly waits (on the model's native code, on the database), so a search
costs the longer of the two rather than both."""

from __future__ import annotations

import threading

import pytest

from mcp_memory.errors import StoreUnavailable
from tests.engines import ENGINES, engine_settings


@pytest.fixture(params=sorted(ENGINES))
def settings(request, tmp_path):
    """On every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path)


def test_keywords_are_looked_up_while_the_query_is_embedded(service, monkeypatch):
    service.add("The kite festival is on the beach in June", user_id="ivy")
    service.add("Ivy repaired the kite string with fishing line", user_id="ivy")
    service.flush()
    looking_up = threading.Event()
    counts = service.ledger.term_counts

    def term_counts(*args, **kwargs):
        looking_up.set()
        return counts(*args, **kwargs)

    embed = service.embedder.embed_query
    overlapped = []

    def embed_query(text):
        overlapped.append(looking_up.wait(timeout=30))  # set only by the other thread
        return embed(text)

    monkeypatch.setattr(service.ledger, "term_counts", term_counts)
    monkeypatch.setattr(service.embedder, "embed_query", embed_query)
    hits = service.search("when is the kite festival?", user_id="ivy").results
    assert overlapped == [True]
    assert hits[0].content == "The kite festival is on the beach in June"


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

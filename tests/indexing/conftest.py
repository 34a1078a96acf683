"""What the damaged-index tests of both embedded engines share (test_damaged_index.py: Chroma,
test_damaged_qdrant.py: Qdrant): three memories whose vectors are written before the damage, and
queries only their meaning answers."""

from __future__ import annotations

import pytest

from mcp_memory.factory import build_service

FACTS = {
    "boiler": "The boiler was serviced in March by a technician from Vaillant",
    "cat": "Miso the cat takes a thyroid pill every morning with breakfast",
    "train": "Tom prefers the night train to Vienna over flying",
}
# Queries sharing no word with their fact: only the vectors can answer them.
BY_MEANING = {"boiler": "When was the heating maintained?", "cat": "pet medication"}


@pytest.fixture
def stored(settings, embedder, clock):
    """The three memories with their vectors written (on the module's ``settings``); returns
    their ids by key."""
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = {key: service.add(text, user_id="tom").id for key, text in FACTS.items()}
    service.flush()
    service.close()
    return ids


def top(service, query: str) -> str:
    """The id of the best hit for ``query`` in the facts' scope."""
    return service.search(query, user_id="tom").results[0].id

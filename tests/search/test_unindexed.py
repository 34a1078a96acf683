"""A memory the vector index does not hold yet (its outbox entry waits: a full disk, a rebuild)
and that a search brings in by its words still ranks by its meaning too: the search embeds it
on the spot, instead of scoring it as if it meant nothing (cosine 0), below every memory that
merely resembles the query."""

from __future__ import annotations

import pytest

from mcp_memory.models import Scope
from mcp_memory.policy import admission, filters, validation
from tests.engines import ENGINES, engine_settings


@pytest.fixture(params=sorted(ENGINES))
def settings(request, tmp_path):
    """On every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path)


def test_a_memory_waiting_for_its_vector_is_found_by_meaning(service):
    service.add("The dentist appointment is on Tuesday at nine", user_id="noa")
    service.add("Noa's favourite band is playing in Utrecht next month", user_id="noa")
    service.flush()
    policy = service.policy
    waiting = admission.new_memory(
        "The boiler was serviced in March", "noa", None, None, "semantic", "general", None,
        None, None, None, now=service.clock(), limits=policy.limits, scores=policy.importance,
        tiers=policy.retention,
    )  # fmt: skip
    service.ledger.insert_unless_duplicate(waiting, validation.content_hash(waiting.content))
    assert service.ledger.count_pending() == 1 and service.index.count() == 2
    flt = filters.memory_filter(policy.limits, Scope(user_id="noa"), now=service.clock())
    hits = service.searcher.ranked("boiler maintenance", flt, 3, service.clock())
    assert hits[0].id == waiting.id and hits[0].similarity > 0.3
    assert service.ledger.count_pending() == 1  # found without writing the index

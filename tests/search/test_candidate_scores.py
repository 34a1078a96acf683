"""Candidates the nearest-vector search did not bring (keyword matches, session neighbours) are
ranked by their cosine to the query as well: read from the search's own vectors, scored by the
index where it holds them (pgvector, in the database), or embedded on the spot when the index
does not hold them yet. On every storage engine."""

from __future__ import annotations

import numpy as np
import pytest

from mcp_memory.config import RankingSettings
from mcp_memory.models import Scope
from mcp_memory.store.records import MemoryFilter
from tests.engines import ENGINES, engine_settings


@pytest.fixture(params=sorted(ENGINES))
def settings(request, tmp_path):
    """On every storage engine (tests/engines.py), with a pool one memory wide, so that the
    others come in as keyword matches and session neighbours."""
    narrow = RankingSettings(candidate_pool=1)
    return engine_settings(request, tmp_path).model_copy(update={"ranking": narrow})


def test_candidates_beyond_the_nearest_carry_their_cosine_to_the_query(service):
    texts = [
        "Ann flew her red kite on the beach",
        "The kite string snapped in the wind",
        "Ann's brother prefers sailing boats on the lake",
    ]
    for text in texts:
        service.add(text, user_id="ann", session_id="s1")
    service.flush()
    query = "where did the kite string snap?"
    pool = service.gather(query, MemoryFilter(scope=Scope(user_id="ann")), limit=1)
    assert len(pool.candidates) == 3  # one nearest, the others matched or beside it
    qvec = service.embedder.embed_query(query)
    vectors = dict(zip(texts, service.embedder.embed(texts), strict=True))
    for candidate in pool.candidates:
        expected = float(np.dot(qvec, vectors[candidate.content]))
        assert candidate.similarity == pytest.approx(expected, abs=1e-5), candidate.content

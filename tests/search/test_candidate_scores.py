"""Candidates the nearest-vector search did not bring (keyword matches, session neighbours) are
ranked by their cosine to the query as well: read from the search's own vectors, scored by the
index where it holds them (pgvector, in the database), or embedded on the spot when the index
does not hold them yet. On every storage engine."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mcp_memory.config import RankingSettings
from mcp_memory.models import Scope
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import scores_in_place
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


def test_an_index_in_the_database_scores_while_the_ledger_reads_the_candidates(
    service, settings, monkeypatch
):
    """pgvector scores the candidates in the database while the ledger reads their rows on a
    lookup thread (two waits on the database, overlapped); an index in this process is asked
    on the search's own thread, after the rows (two threads would contend for the
    interpreter)."""
    for text in ["Ann flew her red kite on the beach", "The kite string snapped in the wind"]:
        service.add(text, user_id="ann", session_id="s1")
    service.flush()
    reading = threading.Event()
    threads: dict[str, threading.Thread] = {}
    read = service.ledger.candidates_with_terms
    score = service.searcher.index.similarities
    remote = scores_in_place(service.searcher.index)

    def candidates_with_terms(*args):
        threads["rows"] = threading.current_thread()
        reading.set()
        return read(*args)

    def similarities(*args):
        threads["scores"] = threading.current_thread()
        assert reading.wait(timeout=30)  # the rows are read beside (or before) the scores
        return score(*args)

    monkeypatch.setattr(service.ledger, "candidates_with_terms", candidates_with_terms)
    monkeypatch.setattr(service.searcher.index, "similarities", similarities)
    hits = service.search("where did the kite string snap?", user_id="ann", limit=1).results
    assert hits[0].content == "The kite string snapped in the wind"
    assert remote == settings.storage.backend.startswith("postgres")
    here = threading.current_thread()
    assert threads.get("scores", here) is here  # Chroma's scope block scored them already
    assert (threads["rows"] is not here) is remote

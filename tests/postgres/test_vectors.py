"""pgvector as the vector index, in the ledger's database: exact within a scope, the HNSW graph
over everything, the catalog refusing another model, and one transaction for the vectors and
the outbox entries they clear."""

from __future__ import annotations

import numpy as np
import pytest

from mcp_memory.errors import IndexMismatch
from mcp_memory.postgres.vectors import PgVectorCatalog
from mcp_memory.store.vectors import ScoresInPlace, VectorRecord, similarities
from tests.engines import fresh_schema
from tests.ledger.test_ledger import insert, memory
from tests.ledgers import open_postgres

DIM = 8


@pytest.fixture
def ledger(postgres_dsn):
    led = open_postgres(postgres_dsn, fresh_schema(), vectors=True)
    yield led
    led.close()


@pytest.fixture
def catalog(ledger) -> PgVectorCatalog:
    return PgVectorCatalog(ledger.db)


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def records(n: int, user: str = "u") -> list[VectorRecord]:
    return [VectorRecord(f"{user}{i}", unit(i + 1000 * len(user)), user_id=user) for i in range(n)]


def test_scoped_queries_are_exact_and_global_ones_find_the_nearest(catalog):
    index = catalog.open("memories", "m", DIM)
    index.upsert(records(200, "u") + records(200, "vv"))
    query = records(200, "u")[7].vector
    for scope in ({"user_id": "u"}, {"user_id": "vv"}):
        rows = [r for r in records(200, scope["user_id"])]
        sims = sorted(((float(r.vector @ query), r.id) for r in rows), reverse=True)[:10]
        hits = index.query(query, 10, scope=scope)
        assert [h.id for h in hits] == [i for _, i in sims]
        assert [h.similarity for h in hits] == pytest.approx([s for s, _ in sims], abs=1e-5)
    among = ["u1", "u2", "vv3"]
    assert {h.id for h in index.query(query, 10, ids=among)} == set(among)
    assert index.query(query, 1)[0].id == "u7"  # the vector itself, through the graph
    assert index.query(query, 5, ids=[]) == []


def test_candidates_are_scored_in_the_database_without_reading_their_vectors(catalog):
    """A search needs the cosine of candidates the nearest did not bring: pgvector scores
    them where they are (``ScoresInPlace``), the same as from the vectors, and an id it does
    not hold has no score (the search embeds that one itself)."""
    index = catalog.open("memories", "m", DIM)
    index.upsert(records(30, "u"))
    assert isinstance(index, ScoresInPlace)
    query = unit(99)
    wanted = ["u3", "u17", "u29", "nobody"]
    scored = index.similarities(query, wanted)
    vectors = index.vectors(wanted)
    assert set(scored) == set(vectors) == {"u3", "u17", "u29"}
    for memory_id, vector in vectors.items():
        assert scored[memory_id] == pytest.approx(float(vector @ query), abs=1e-6)
    assert similarities(index, query, []) == {}


def test_upserts_move_and_replace_and_the_count_follows(catalog):
    index = catalog.open("memories", "m", DIM)
    index.upsert(records(3))
    moved = VectorRecord("u0", unit(99), user_id="other")
    index.upsert([moved, moved])
    assert index.count() == 3 and sorted(index.all_ids()) == ["u0", "u1", "u2"]
    assert index.query(unit(99), 1, scope={"user_id": "other"})[0].id == "u0"
    assert np.allclose(index.vectors(["u0"])["u0"], unit(99))
    index.delete(["u0", "u1", "nope"])
    assert index.count() == 1 and index.existing_ids(["u0", "u2"]) == {"u2"}
    assert index.read_scope({"user_id": "u"}) is None


def test_the_catalog_refuses_another_model_and_drops_by_name(catalog, ledger):
    catalog.open("memories", "m", DIM).upsert(records(2))
    with pytest.raises(IndexMismatch, match="mcp-memory reindex"):
        catalog.open("memories", "other-model", DIM)
    other = PgVectorCatalog(ledger.db)
    assert other.open("memories", "m", DIM).count() == 2
    new = catalog.open("memories-1234abcd", "other-model", 4)
    assert new.count() == 0 and catalog.names() == ["memories", "memories-1234abcd"]
    assert catalog.drop("memories") and not catalog.drop("memories")
    assert catalog.names() == ["memories-1234abcd"]


def test_vectors_and_the_outbox_entries_they_clear_commit_together(ledger, catalog):
    index = catalog.open("memories", "m", DIM)
    insert(ledger, memory("a", "first", user_id="u"))
    with pytest.raises(RuntimeError), ledger.db.held("index"):
        index.upsert([VectorRecord("a", unit(1), user_id="u")])
        ledger.mark_indexed([("a", "upsert")])
        raise RuntimeError("the process dies before the end")
    assert index.count() == 0 and ledger.pending_index() == [("a", "upsert")]
    with ledger.db.held("index"):
        index.upsert([VectorRecord("a", unit(1), user_id="u")])
        ledger.mark_indexed([("a", "upsert")])
    assert index.count() == 1 and ledger.count_pending() == 0

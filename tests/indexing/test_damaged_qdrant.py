"""A damaged embedded Qdrant index mends itself as Chroma's does (test_damaged_index.py): the
engine's damage becomes ``IndexDamaged``, and start-up, a search, `doctor --repair` and
`reindex` rebuild the index from the ledger. The damage is done to the real shard's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_memory.cli import doctor
from mcp_memory.config import load_settings
from mcp_memory.errors import IndexDamaged
from mcp_memory.factory import QDRANT_DIR, build_service, reindex_store
from mcp_memory.vectors.qdrant.edge import EdgeCatalog
from tests.indexing.conftest import BY_MEANING, FACTS, top


def _garble(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(os.urandom(min(100, path.stat().st_size)))


def _cut(path: Path) -> None:
    os.truncate(path, 64)


def _one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    assert found, f"no {pattern} under {root}"
    return found[0]


# Each kind of damage Edge names (edge.DAMAGE_MARKERS), on the real shard's files.
DAMAGE = {
    "shard config": lambda shard: _garble(shard / "edge_config.json"),
    "segment state": lambda shard: _garble(_one(shard, "segments/*/segment.json")),
    "log header": lambda shard: _garble(_one(shard, "wal/open-1")),
    "id tracker": lambda shard: _garble(_one(shard, "segments/*/mutable_id_tracker.mappings")),
    "vectors cut short": lambda shard: _cut(
        _one(shard, "segments/*/vector_storage/vectors/*.mmap")
    ),
    "model record": lambda shard: _garble(shard.parent / "index.json"),
}


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", vector={"backend": "qdrant"})


def _damage(settings, how: str = "segment state") -> None:
    DAMAGE[how](settings.data_dir / QDRANT_DIR / settings.vector.collection / "shard")


@pytest.mark.parametrize("damaged", DAMAGE)
def test_each_kind_of_damage_is_named_as_such(settings, embedder, stored, damaged):
    """The engine's own failure, on opening or reading the shard, becomes IndexDamaged."""
    _damage(settings, damaged)
    catalog = EdgeCatalog(settings.data_dir / QDRANT_DIR)
    query = embedder.embed_query(BY_MEANING["cat"])
    with pytest.raises(IndexDamaged):
        index = catalog.open(settings.vector.collection, embedder.name, embedder.dimension)
        try:  # the shard loads on first use; some damage shows only when vectors are read
            index.query(query, 3)
        finally:
            index.close()


@pytest.mark.parametrize("damaged", ["segment state", "model record"])
def test_start_up_rebuilds_a_damaged_index_from_the_ledger(
    settings, embedder, clock, stored, damaged
):
    _damage(settings, damaged)
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        service.reconcile()  # what the server's warm-up runs
        assert service.index.rebuilt == 1
        stats = service.stats()
        assert stats.vectors_indexed == len(FACTS) and stats.index_in_sync
        for key, query in BY_MEANING.items():
            assert top(service, query) == stored[key]
    finally:
        service.close()


@pytest.mark.parametrize("damaged", ["id tracker", "vectors cut short"])
def test_a_search_meeting_a_damaged_index_answers_and_mends_it(
    settings, embedder, clock, stored, damaged
):
    """Vectors cut short show only when a search reads them (start-up counts and lists ids)."""
    _damage(settings, damaged)
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        first = service.search("boiler serviced")
        assert first.results[0].id == stored["boiler"]
        assert service.index.rebuilt == 1
        assert service.search(BY_MEANING["cat"]).results[0].id == stored["cat"]
        assert service.stats().index_in_sync
    finally:
        service.close()


def test_doctor_reports_a_damaged_index_and_repair_rebuilds_it(settings, stored):
    _damage(settings, "shard config")
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["vector index"].status == "fail", checks
    assert "embedded Qdrant" in checks["vector index"].detail
    assert "failed to deserialize" in checks["vector index"].detail.lower()
    assert "mcp-memory doctor --repair" in checks["vector index"].fix
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert all(c.status == "ok" for c in repaired.values()), repaired
    assert "rebuilt from the ledger" in repaired["vector index"].detail
    assert repaired["ledger vs index"].detail.startswith("3 memories, 3 vectors, 0 pending")
    assert {c.status for c in doctor.run(settings, None)} == {"ok"}


def test_reindex_rebuilds_a_damaged_index(settings, embedder, clock, stored):
    _damage(settings, "log header")
    result = reindex_store(settings, embedder=embedder)
    assert result.memories == len(FACTS) and result.new_backend == "qdrant"
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        assert top(service, BY_MEANING["boiler"]) == stored["boiler"]
        assert service.stats().index_in_sync
    finally:
        service.close()

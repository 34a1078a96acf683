"""The Qdrant catalogs' faults: ``reset`` (what the service calls on a damaged index) and the
disk reserve of embedded Qdrant, on a real small tmpfs.

Edge blocks holding the GIL when a write or a shard load meets a full disk (measured: the whole
process stops), so under the reserve it is not asked to write or to load; a shard this process
holds still answers searches (they write nothing). See ``vectors/qdrant/edge.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcp_memory.errors import StorageFull, StoreDamaged
from mcp_memory.store.disk import Reserve
from mcp_memory.store.vectors import VectorRecord
from mcp_memory.vectors.qdrant.edge import EdgeCatalog
from mcp_memory.vectors.qdrant.server import ServerCatalog
from tests.mounts import fill, small_disk

pytestmark = [
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
]
DIM = 8


def _records(prefix: str, n: int, seed: int = 0) -> list[VectorRecord]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [VectorRecord(f"{prefix}{i}", vectors[i], "tom", "", "") for i in range(n)]


def test_reset_empties_every_embedded_index(tmp_path):
    catalog = EdgeCatalog(tmp_path / "qdrant")
    for name in ("memories", "memories-1a2b3c4d"):
        index = catalog.open(name, "m", DIM)
        index.upsert(_records("a", 5))
        index.close()
    catalog.reset()
    assert catalog.names() == []
    again = catalog.open("memories", "m", DIM)
    try:
        assert again.count() == 0
        again.upsert(_records("b", 3))
        assert again.count() == 3
    finally:
        again.close()


def test_reset_of_a_server_store_is_refused_with_what_to_do(tmp_path):
    from qdrant_client import QdrantClient

    catalog = ServerCatalog(lambda: QdrantClient(path=str(tmp_path / "local")))
    catalog.open("memories", "m", DIM).close()
    with pytest.raises(StoreDamaged, match="mcp-memory reindex"):
        catalog.reset()
    assert catalog.names() == ["memories"]  # nothing deleted
    catalog.close()


def test_under_the_reserve_writes_and_loads_are_refused_and_held_searches_answer(tmp_path):
    with small_disk(tmp_path / "disk", 128) as disk:
        reserve = Reserve(disk, 8 * 1_048_576)
        catalog = EdgeCatalog(disk / "qdrant", reserve=reserve)
        index = catalog.open("memories", "m", DIM)
        stored = _records("a", 50)
        index.upsert(stored)
        query = stored[7].vector
        assert index.query(query, 1)[0].id == "a7"  # the shard is held from here on

        filler = fill(disk / "filler")
        with pytest.raises(StorageFull, match=f"disk full at {disk}"):
            index.upsert(_records("b", 5, seed=1))
        with pytest.raises(StorageFull):
            index.delete(["a1"])
        assert not index.optimize()  # skipped: a graph build writes new segments
        assert index.query(query, 1)[0].id == "a7" and index.count() == 50
        index.close()  # the turn is given up: loading it again could write

        index = catalog.open("memories", "m", DIM)
        with pytest.raises(StorageFull):
            index.query(query, 1)

        filler.unlink()  # space comes back
        assert index.query(query, 1)[0].id == "a7"
        index.upsert(_records("b", 5, seed=1))
        assert index.count() == 55
        index.close()

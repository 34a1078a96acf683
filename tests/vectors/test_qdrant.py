"""The Qdrant indexes: the VectorIndex contract, the model stamp, dropping, optimizing, and
processes taking turns at an embedded shard.

The contract runs on embedded Qdrant (Qdrant's engine, qdrant-edge-py), and on the client code
that server mode uses (qdrant-client) against the client's local mode: the same client API,
a Python implementation, *not* a server. A real Qdrant server joins when
MCP_MEMORY_TEST_QDRANT_URL names one (tests/engines.py); none can be installed where CI runs.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mcp_memory.errors import IndexMismatch, StoreUnavailable
from mcp_memory.store.vectors import Optimizable, VectorRecord
from mcp_memory.vectors.qdrant.edge import EdgeCatalog
from mcp_memory.vectors.qdrant.points import CollectionConfig, point_id
from mcp_memory.vectors.qdrant.server import ServerCatalog, server_client
from tests.engines import QDRANT_API_KEY, QDRANT_URL

CHILD = Path(__file__).parent / "qdrant_child.py"
# What qdrant-client's local mode says of settings it has no use for (it always scans).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
]
KINDS = ["embedded", "client-local", *(["server"] if QDRANT_URL else [])]


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(params=KINDS)
def catalog(request, tmp_path) -> Iterator:
    if request.param == "embedded":
        made = EdgeCatalog(tmp_path / "qdrant")
    elif request.param == "client-local":
        from qdrant_client import QdrantClient

        made = ServerCatalog(lambda: QdrantClient(path=str(tmp_path / "local")))
    else:
        made = ServerCatalog(lambda: server_client(QDRANT_URL, api_key=QDRANT_API_KEY))
    made.prefix = f"t{uuid.uuid4().hex[:8]}-"
    yield made
    for name in made.names():
        if name.startswith(made.prefix):
            made.drop(name)
    made.close()


def test_query_by_scope_and_ids(catalog):
    index = catalog.open(catalog.prefix + "mem", "m", 3)
    index.upsert(
        [
            VectorRecord("a", unit(1, 0, 0), user_id="u"),
            VectorRecord("b", unit(0.9, 0.1, 0), user_id="v"),
            VectorRecord("c", unit(0, 1, 0), user_id="u", session_id="s"),
        ]
    )
    assert [h.id for h in index.query(unit(1, 0, 0), 3)] == ["a", "b", "c"]
    assert [h.id for h in index.query(unit(1, 0, 0), 3, scope={"user_id": "u"})] == ["a", "c"]
    assert [
        h.id for h in index.query(unit(1, 0, 0), 3, scope={"user_id": "u", "session_id": "s"})
    ] == ["c"]
    assert [h.id for h in index.query(unit(1, 0, 0), 3, ids=["b", "c"])] == ["b", "c"]
    assert index.query(unit(1, 0, 0), 3, ids=[]) == []
    top = index.query(unit(1, 0, 0), 1)[0]
    assert abs(top.similarity - 1.0) < 1e-5
    assert abs(index.query(unit(1, 0, 0), 3)[1].similarity - float(unit(0.9, 0.1, 0)[0])) < 1e-5
    assert (
        np.allclose(index.vectors(["c", "nope"])["c"], unit(0, 1, 0)) and index.read_scope() is None
    )
    index.upsert([VectorRecord("c", unit(0, 1, 0), user_id="v")])  # moved to another scope
    assert [h.id for h in index.query(unit(1, 0, 0), 3, scope={"user_id": "u"})] == ["a"]
    index.delete(["a"])
    assert index.count() == 2 and index.existing_ids(["a", "b"]) == {"b"}
    assert sorted(index.all_ids()) == ["b", "c"]
    index.close()


def test_any_memory_id_is_a_point_of_its_own(catalog):
    """Qdrant names points by UUID; imported ids keep their own form, case included."""
    ids = ["Abc", "abc", "import-01_x", "z" * 64, uuid.uuid4().hex]
    index = catalog.open(catalog.prefix + "mem", "m", 3)
    index.upsert([VectorRecord(i, unit(1, n, 0)) for n, i in enumerate(ids)])
    assert index.count() == len(ids) and sorted(index.all_ids()) == sorted(ids)
    assert len({point_id(i) for i in ids}) == len(ids)
    found = index.vectors(ids)
    for n, memory_id in enumerate(ids):
        assert np.allclose(found[memory_id], unit(1, n, 0), atol=1e-6)
    index.close()


def test_a_different_model_is_refused_with_a_pointer_to_reindex(catalog):
    catalog.open(catalog.prefix + "mem", "model-a", 3).close()
    with pytest.raises(IndexMismatch, match="mcp-memory reindex"):
        catalog.open(catalog.prefix + "mem", "model-b", 3)
    with pytest.raises(IndexMismatch, match="384 dimensions"):
        catalog.open(catalog.prefix + "mem", "model-a", 384)


def test_a_server_collection_without_a_model_stamp_is_refused(tmp_path):
    """A collection mcp-memory did not make (or a server older than Qdrant 1.16, which drops
    collection metadata) is not used, with the reason."""
    from qdrant_client import QdrantClient
    from qdrant_client import models as m

    client = QdrantClient(path=str(tmp_path / "local"))
    client.create_collection("theirs", m.VectorParams(size=3, distance=m.Distance.COSINE))
    with pytest.raises(StoreUnavailable, match=r"records no embedding model.*Qdrant 1\.16"):
        ServerCatalog(lambda: client).open("theirs", "m", 3)
    client.close()


def test_drop_deletes_the_index_and_only_it(catalog):
    keep = catalog.open(catalog.prefix + "keep", "m", 3)
    keep.upsert([VectorRecord("k", unit(1, 0, 0))])
    gone = catalog.open(catalog.prefix + "gone", "m", 3)
    gone.upsert([VectorRecord("g", unit(1, 0, 0))])
    gone.close()
    assert {catalog.prefix + "keep", catalog.prefix + "gone"} <= set(catalog.names())
    assert catalog.drop(catalog.prefix + "gone") and not catalog.drop(catalog.prefix + "gone")
    assert catalog.prefix + "gone" not in catalog.names()
    assert keep.count() == 1
    again = catalog.open(catalog.prefix + "gone", "m", 3)
    assert again.count() == 0  # made afresh, nothing left of the dropped one
    keep.close()
    again.close()


def test_pages_of_ids_and_an_optimized_shard_keep_every_vector(tmp_path):
    """More points than a page, and HNSW graphs built (a tiny indexing threshold): every id
    is listed, every stored vector is its own nearest, scoped search stays exact."""
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((5000, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    config = CollectionConfig(indexing_threshold=50, full_scan_threshold=50)
    index = EdgeCatalog(tmp_path, config).open("mem", "m", 16)
    index.upsert([VectorRecord(f"m{n}", v, user_id=f"u{n % 50}") for n, v in enumerate(matrix)])
    assert isinstance(index, Optimizable) and index.optimize()
    assert index.count() == 5000 and len(set(index.all_ids())) == 5000
    for n in (0, 1234, 4999):
        assert index.query(matrix[n], 1)[0].id == f"m{n}"
        scoped = [h.id for h in index.query(matrix[n], 10, scope={"user_id": f"u{n % 50}"})]
        members = [m for m in range(5000) if m % 50 == n % 50]
        exact = sorted(members, key=lambda m: -float(matrix[m] @ matrix[n]))[:10]
        assert scoped == [f"m{m}" for m in exact]
    index.close()


# -- processes taking turns at one embedded shard --------------------------------------------


def _child(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(root), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_another_process_takes_its_turn_and_its_write_is_seen_here(tmp_path):
    index = EdgeCatalog(tmp_path).open("mem", "m", 3)
    index.upsert([VectorRecord("mine", unit(1, 0, 0))])
    turns = index._shared.turns
    assert turns.holding and turns.taken == 1
    with _child(tmp_path, "write", "theirs") as child:
        child.communicate(timeout=120)
    assert child.returncode == 0
    assert not turns.holding  # given up while idle, as the child asked
    assert [h.id for h in index.query(unit(0, 0, 1), 2)] == ["theirs", "mine"]
    assert turns.taken == 2
    index.close()


def test_a_killed_holder_neither_blocks_the_others_nor_loses_its_write(tmp_path):
    with _child(tmp_path, "hold", "theirs") as child:
        assert child.stdout.readline().strip() == "holding"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    index = EdgeCatalog(tmp_path).open("mem", "m", 3)
    assert index.existing_ids(["theirs"]) == {"theirs"}
    index.close()


def test_waiting_past_the_deadline_is_a_clear_error(tmp_path):
    EdgeCatalog(tmp_path).open("mem", "m", 3).close()
    with _child(tmp_path, "busy") as child:
        assert child.stdout.readline().strip() == "busy"
        index = EdgeCatalog(tmp_path, timeout_s=0.2).open("mem", "m", 3)
        with pytest.raises(StoreUnavailable, match=r"another process has held .*mode = \"server\""):
            index.count()
        index.close()
        child.communicate(timeout=60)
    assert EdgeCatalog(tmp_path).open("mem", "m", 3).count() == 0


def _evict_page_cache(directory: Path) -> None:
    """Drop a directory's files from the page cache, as closing a shard does to its own."""
    for path in directory.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def test_a_search_reads_payloads_from_memory_not_from_disk(tmp_path):
    """Every search reads its hits' memory ids from their payloads: an embedded shard keeps
    payloads in memory, so a search after reopening it faults no page in from disk (the
    ``Cold`` default read one per hit: 9 ms a scoped search at 100k)."""
    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((5000, 16)).astype(np.float32)
    config = CollectionConfig(indexing_threshold=50, full_scan_threshold=50)
    catalog = EdgeCatalog(tmp_path, config)
    index = catalog.open("mem", "m", 16)
    index.upsert([VectorRecord(f"m{n}", v, user_id=f"u{n % 5}") for n, v in enumerate(matrix)])
    assert isinstance(index, Optimizable) and index.optimize()
    index.query(matrix[3], 50, scope={"user_id": "u3"})  # the engine's code paths paged in
    index.close()
    _evict_page_cache(tmp_path / "mem")
    index = catalog.open("mem", "m", 16)
    assert index.count() == 5000  # loaded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    hits = index.query(matrix[7], 50, scope={"user_id": "u2"})
    assert resource.getrusage(resource.RUSAGE_SELF).ru_majflt - before == 0
    assert len(hits) == 50 and hits[0].id == "m7"
    index.close()


def test_a_filtered_search_through_the_graph_finds_all_it_is_asked_for(tmp_path):
    """A scoped search on an HNSW graph returns the k nearest in scope, never a handful: Edge's
    plain filtered graph search answered some queries of a shard like these with 1 hit of the
    1,000 in scope (2 to 9 of 200 queries, in most shards built); ACORN finds them all."""
    config = CollectionConfig(indexing_threshold=50, full_scan_threshold=50)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        matrix = rng.standard_normal((5000, 16)).astype(np.float32)
        index = EdgeCatalog(tmp_path / str(seed), config).open("mem", "m", 16)
        index.upsert([VectorRecord(f"m{n}", v, user_id=f"u{n % 5}") for n, v in enumerate(matrix)])
        assert isinstance(index, Optimizable) and index.optimize()
        for n in range(200):
            hits = index.query(matrix[n], 50, scope={"user_id": f"u{n % 5}"})
            assert (len(hits), hits[0].id) == (50, f"m{n}"), f"shard {seed}, query {n}"
        index.close()

"""The vector engines in operation, in process: moving a store between them with `reindex
--vector-backend` (the old engine serves until the new index is complete, then the service
follows the ledger's record to the other engine, whatever its own configuration says), and
embedded Qdrant's search graphs, built by an import and by `doctor --repair`."""

from __future__ import annotations

import pytest

from mcp_memory.cli import doctor
from mcp_memory.config import load_settings
from mcp_memory.errors import StoreUnavailable
from mcp_memory.factory import QDRANT_DIR, build_service, chroma_catalog, reindex_store
from mcp_memory.indexing.reindex import IndexRef, current_index

FACTS = [
    "Priya is allergic to penicillin",
    "Priya's daughter Asha starts school in September",
    "Priya prefers aisle seats on flights",
    "Priya's team deploys on Thursdays",
    "Priya drives an electric Kia",
]
ENGINE_CLASS = {"chroma": "ChromaIndex", "qdrant": "EdgeIndex"}


def _names(settings, backend: str) -> list[str]:
    if backend == "qdrant":
        root = settings.data_dir / QDRANT_DIR
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    catalog = chroma_catalog(settings)
    try:
        return catalog.names()
    finally:
        catalog.close()


def _serving(service) -> str:
    return type(service.index.opened().current()).__name__


@pytest.mark.parametrize(("source", "target"), [("chroma", "qdrant"), ("qdrant", "chroma")])
def test_reindex_moves_the_store_to_the_other_engine_while_it_serves(
    tmp_path, embedder, clock, source, target
):
    settings = load_settings(data_dir=tmp_path / "data", vector={"backend": source})
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = {text: service.add(text, user_id="priya").id for text in FACTS}
    service.flush()
    base = settings.vector.collection
    assert _serving(service) == ENGINE_CLASS[source]
    seen: list[tuple[IndexRef, str, str]] = []
    added: list[str] = []

    def between_batches(done: int, total: int) -> None:
        if 0 < done < total:
            top = service.search("What medicine must she avoid?", user_id="priya").results[0]
            seen.append((current_index(service.ledger, base, source), _serving(service), top.id))
            if not added:
                added.append(service.add("Priya learns Portuguese", user_id="priya").id)
                service.flush()
                service.delete(ids[FACTS[4]])

    result = reindex_store(
        settings, embedder=embedder, progress=between_batches, batch_size=2, backend=target
    )
    assert seen and all(
        ref == IndexRef(source, base) and engine == ENGINE_CLASS[source] and top == ids[FACTS[0]]
        for ref, engine, top in seen
    )
    assert (result.old_backend, result.new_backend) == (source, target)
    assert current_index(service.ledger, base, source) == IndexRef(target, result.new_collection)
    assert result.new_collection in _names(settings, target)
    assert base not in _names(settings, source)
    # The service, still configured with the old engine, follows the record to the new one.
    top = service.search("Which language is she learning?", user_id="priya").results[0]
    assert top.id == added[0] and _serving(service) == ENGINE_CLASS[target]
    report = service.index_report()
    assert report.agrees and report.memories == len(FACTS) and report.vectors == len(FACTS)
    later = service.add("Priya's passport expires in 2031", user_id="priya").id
    service.flush()
    assert service.search("When does her passport expire?", user_id="priya").results[0].id == later
    service.close()
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["vector engine"].status == "warn"
    assert f'backend = "{target}"' in checks["vector engine"].fix
    assert checks["ledger vs index"].status == "ok"
    moved = load_settings(data_dir=settings.data_dir, vector={"backend": target})
    assert "vector engine" not in {c.name for c in doctor.run(moved, None)}


def test_a_model_switch_on_qdrant_stays_on_qdrant(tmp_path, embedder, clock):
    settings = load_settings(data_dir=tmp_path / "data", vector={"backend": "qdrant"})
    service = build_service(settings, embedder=embedder, clock=clock)
    for text in FACTS:
        service.add(text, user_id="priya")
    service.close()
    result = reindex_store(settings, model="all-MiniLM-L6-v2")
    assert (result.old_backend, result.new_backend) == ("qdrant", "qdrant")
    assert _names(settings, "qdrant") == [result.new_collection]
    switched = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"model": "all-MiniLM-L6-v2"})}
    )
    fresh = build_service(switched, clock=clock)
    top = fresh.search("What medicine must she avoid?", user_id="priya").results[0]
    assert top.content == FACTS[0]
    fresh.close()


def test_doctor_counts_vectors_outside_the_graphs_and_repair_builds_them(
    tmp_path, embedder, clock, monkeypatch
):
    """Servers never build embedded Qdrant's HNSW graphs (it would stall their searches);
    doctor says how many vectors wait outside them, and --repair builds them."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        vector={"backend": "qdrant", "qdrant": {"indexing_threshold": 1, "full_scan_threshold": 1}},
    )
    service = build_service(settings, embedder=embedder, clock=clock)
    for text in FACTS:
        service.add(text, user_id="priya")
    service.close()
    monkeypatch.setattr(doctor, "GRAPH_TAIL_WARN", 2)
    graphs = {c.name: c for c in doctor.run(settings, None)}["search graphs"]
    assert graphs.status == "warn" and graphs.detail.startswith(f"{len(FACTS)} vectors outside")
    assert "doctor --repair" in graphs.fix
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert repaired["search graphs"].status == "ok"
    assert repaired["search graphs"].detail.startswith("0 vectors outside")
    chroma = load_settings(data_dir=tmp_path / "other")
    assert "search graphs" not in {c.name for c in doctor.run(chroma, None)}


def test_an_import_builds_the_graphs_of_embedded_qdrant(tmp_path, embedder, clock):
    vector = {"backend": "qdrant", "qdrant": {"indexing_threshold": 1, "full_scan_threshold": 1}}
    settings = load_settings(data_dir=tmp_path / "data", vector=vector)
    service = build_service(settings, embedder=embedder, clock=clock)
    service.add("Priya's locker is number 41", user_id="priya")
    service.flush()
    engine = service.index.opened().current()
    assert engine.unindexed() == 1  # a single add leaves the graphs alone
    report = service.import_records([{"content": text, "user_id": "priya"} for text in FACTS])
    assert report.imported == len(FACTS) and engine.unindexed() == 0
    top = service.search("What medicine must she avoid?", user_id="priya").results[0]
    assert top.content == FACTS[0]
    service.close()


def test_an_unreachable_qdrant_server_is_named_without_its_api_key(tmp_path, embedder):
    """Server mode against a port nothing listens on (no Qdrant server runs here): the error
    names the address and what to fix, never the API key."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "k-0123456789-secret"
    qdrant = {"url": f"http://127.0.0.1:{port}", "api_key": secret, "timeout_s": 5}
    settings = load_settings(
        data_dir=tmp_path / "data", vector={"backend": "qdrant", "mode": "server", "qdrant": qdrant}
    )
    checks = doctor.run(settings, None)
    index = {c.name: c for c in checks}["vector index"]
    assert index.status == "fail" and f"Qdrant server http://127.0.0.1:{port}" in index.detail
    assert "cannot use collection 'memories'" in index.detail and "Qdrant server" in index.fix
    assert secret not in repr(doctor.as_json(checks)) and secret not in doctor.render(checks)
    service = build_service(settings, embedder=embedder)
    with pytest.raises(StoreUnavailable, match=r"api_key in the config") as caught:
        service.stats()
    assert secret not in str(caught.value)
    service.close()


def test_reindex_resets_the_engine_whose_files_are_damaged(tmp_path):
    """A reindex meeting damage starts afresh on the engine the damage's path names."""
    from mcp_memory.errors import IndexDamaged
    from mcp_memory.factory import CHROMA_DIR, damaged_engine

    settings = load_settings(data_dir=tmp_path / "data", vector={"backend": "qdrant"})
    qdrant = IndexDamaged(settings.data_dir / QDRANT_DIR / "memories" / "shard", "bad log")
    chroma = IndexDamaged(settings.data_dir / CHROMA_DIR / "chroma.sqlite3", "malformed")
    assert damaged_engine(settings, qdrant) == "qdrant"
    assert damaged_engine(settings, chroma) == "chroma"


def _dated_points(settings, collection: str, since: str) -> tuple[int, int]:
    """(points under the datetime index, points made at or after ``since``) of one embedded
    Qdrant collection, read with Qdrant's own engine once no process holds it."""
    import qdrant_edge as q

    shard = q.EdgeShard.load(str(settings.data_dir / QDRANT_DIR / collection / "shard"))
    try:
        indexed = shard.info().payload_schema["created_at"]
        assert indexed.data_type == q.PayloadSchemaType.Datetime
        after = q.Filter(
            must=[q.FieldCondition(key="created_at", range=q.RangeDateTime(gte=since))]
        )
        return indexed.points, shard.count(q.CountRequest(exact=True, filter=after))
    finally:
        shard.close()


def test_qdrant_points_carry_their_creation_time_under_a_datetime_index(tmp_path, embedder, clock):
    """Every point, written by the outbox sync or by a reindex, holds its memory's created_at
    under a datetime payload index: a date filter run on the collection itself finds them."""
    settings = load_settings(data_dir=tmp_path / "data", vector={"backend": "qdrant"})
    service = build_service(settings, embedder=embedder, clock=clock)
    service.add(FACTS[0], user_id="priya", created_at="2021-03-01T09:00:00Z")
    for text in FACTS[1:]:
        service.add(text, user_id="priya", created_at="2025-03-01T09:00:00Z")
    service.close()
    assert _dated_points(settings, settings.vector.collection, "2024-01-01T00:00:00Z") == (5, 4)
    result = reindex_store(settings, embedder=embedder)
    assert _dated_points(settings, result.new_collection, "2021-03-01T09:00:00Z") == (5, 5)

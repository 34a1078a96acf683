"""The service's tests again, with the vector index on a real Chroma server (`chroma run`),
beside each ledger engine (a PostgreSQL ledger's outbox carries the vector writes to Chroma).

One server per module (it takes a second or two to start); each test gets its own collection
and its own ledger, so tests stay independent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from mcp_memory.config import Settings, load_settings
from mcp_memory.errors import StoreUnavailable
from mcp_memory.factory import build_service, chroma_client
from mcp_memory.indexing.reindex import current_collection
from mcp_memory.vectors.chroma import close_client
from tests.chroma_server import ChromaServer, start_chroma
from tests.cli.test_operations import (  # noqa: F401  (reindex and doctor, against the server)
    test_doctor_reports_and_repairs_disagreement,
    test_failed_reindex_leaves_the_old_index_current,
    test_reindex_serves_the_old_index_until_the_new_one_is_complete,
)
from tests.engines import ENGINES
from tests.mcp.test_server import (  # noqa: F401  (collected here, against the server)
    anyio_backend,
    test_every_tool_in_process,
)
from tests.test_service import *  # noqa: F403  (every service test, against the server)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    server = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path, chroma_server: ChromaServer) -> Settings:
    storage = ENGINES["postgres+pgvector"](request, tmp_path) if request.param == "postgres" else {}
    return load_settings(
        data_dir=tmp_path / "data",
        **storage,
        vector={
            "backend": "http",
            "host": chroma_server.host,
            "port": chroma_server.port,
            "collection": f"t-{uuid.uuid4().hex[:12]}",
            "headers": {"x-test": "1"},
        },
    )


def test_vectors_live_on_the_server_not_in_the_data_dir(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        added = service.add("The spare key is under the blue flowerpot", user_id="ann")
        service.flush()  # add leaves the vector write to a background thread
        client = chroma_client(settings)
        name = current_collection(service.ledger, settings.vector.collection)
        on_server = client.get_collection(name).get(ids=[added.id], include=[])["ids"]
        close_client(client)
        assert on_server == [added.id]
        assert not (settings.data_dir / "chroma").exists()
        hit = service.search("where is the key hidden?", user_id="ann").results[0]
        assert hit.id == added.id
    finally:
        service.close()


def test_unreachable_server_is_a_clear_error(tmp_path, embedder):
    bad = load_settings(data_dir=tmp_path / "d", vector={"backend": "http", "port": 9})
    service = build_service(bad, embedder=embedder)
    with pytest.raises(StoreUnavailable, match=r"cannot reach the Chroma server.*chroma run"):
        service.index.count()
    service.close()

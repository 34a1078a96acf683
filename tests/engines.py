"""The storage engines the service suite runs on: one entry per engine.

Each entry turns a test's request and temporary directory into settings overrides (a section
name -> its values). ``tests/test_service.py`` runs every test once per entry (its ``settings``
fixture is parametrised over this table), so a new engine joins the whole suite by adding one
line here. An engine that needs a server starts it in a session fixture the entry asks for
through ``request.getfixturevalue``.

No Qdrant server can be installed where CI runs: the Qdrant server entry joins only when
``MCP_MEMORY_TEST_QDRANT_URL`` names one (and ``MCP_MEMORY_TEST_QDRANT_API_KEY`` its key, if
any); each test then uses a collection of its own and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcp_memory.config import Settings, load_settings

Overrides = Callable[[pytest.FixtureRequest, Path], dict[str, Any]]
# Read at import, before the tests' isolation clears MCP_MEMORY_* from the environment.
QDRANT_URL = os.environ.get("MCP_MEMORY_TEST_QDRANT_URL", "")
QDRANT_API_KEY = os.environ.get("MCP_MEMORY_TEST_QDRANT_API_KEY") or None


def qdrant_server(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A collection of this test's own on the Qdrant server, dropped (with the ones a reindex
    made from it) when the test ends."""
    from qdrant_client import QdrantClient

    base = f"test-{uuid.uuid4().hex[:12]}"

    def drop() -> None:
        client = QdrantClient(url=QDRANT_URL, api_key=QDRANT_API_KEY, check_compatibility=False)
        for c in client.get_collections().collections:
            if c.name.startswith(base):
                client.delete_collection(c.name)
        client.close()

    request.addfinalizer(drop)
    qdrant = {"url": QDRANT_URL, "api_key": QDRANT_API_KEY}
    return {"vector": {"backend": "qdrant", "mode": "server", "collection": base, "qdrant": qdrant}}


def engine_settings(request: pytest.FixtureRequest, tmp_path: Path, **more: Any) -> Settings:
    """The settings of a fixture parametrised over ``ENGINES`` (``request.param``): a data
    dir under ``tmp_path``, the engine's overrides, and ``more``. Other test modules that
    must hold on every engine parametrise their ``settings`` fixture with this, as
    ``tests/test_service.py`` does."""
    overrides = ENGINES[request.param](request, tmp_path)
    return load_settings(data_dir=tmp_path / "data", **overrides, **more)


def postgres(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The run's PostgreSQL server (``postgres_dsn``), a schema of the test's own."""
    dsn = request.getfixturevalue("postgres_dsn")
    return {"storage": {"backend": "postgres", "dsn": dsn, "schema": fresh_schema()}}


def fresh_schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


ENGINES: dict[str, Overrides] = {
    "sqlite+chroma": lambda request, tmp_path: {},
    "sqlite+qdrant": lambda request, tmp_path: {"vector": {"backend": "qdrant"}},
    "postgres+pgvector": postgres,
}
if QDRANT_URL:
    ENGINES["sqlite+qdrant-server"] = qdrant_server

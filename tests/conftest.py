"""Shared fixtures: a real service (real model, real Chroma, real SQLite) on a temporary data dir.

The embedding model is loaded once per test session (it takes seconds); every test gets a
fresh data directory, so tests never see each other's memories.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcp_memory.config import Settings, load_settings
from mcp_memory.embeddings import SentenceTransformerEmbedder
from mcp_memory.factory import build_embedder, build_service
from mcp_memory.service import MemoryService


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the user's real config or data, whatever a test does."""
    for name in list(__import__("os").environ):
        if name.startswith("MCP_MEMORY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MCP_MEMORY_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real default model, loaded once for the whole run."""
    model = build_embedder(Settings())
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

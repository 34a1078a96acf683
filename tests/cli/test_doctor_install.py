"""doctor's packages row: an engine's missing extra is named with the command that installs it."""

from __future__ import annotations

import importlib.metadata

from mcp_memory.cli.doctor_install import check_packages
from mcp_memory.config import Settings


def _without(monkeypatch, *absent: str) -> None:
    """Package lookups as on a machine without ``absent`` (the rest as installed here)."""
    real = importlib.metadata.version

    def version(name: str) -> str:
        if name in absent:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


def test_a_missing_engine_extra_names_its_install_command(monkeypatch):
    _without(monkeypatch, "qdrant-edge-py", "psycopg")
    settings = Settings(storage={"backend": "postgres"}, vector={"backend": "qdrant"})
    check = check_packages(settings)
    assert check.status == "fail"
    assert check.detail == "missing: psycopg, qdrant-edge-py"
    assert check.fix == (
        'install the engine: pip install "mcp-memory[postgres]" && pip install "mcp-memory[qdrant]"'
    )


def test_a_missing_core_package_asks_for_the_reinstall(monkeypatch):
    _without(monkeypatch, "chromadb")
    check = check_packages(Settings(vector={"backend": "qdrant"}))
    assert check.status == "fail" and check.fix.startswith("reinstall:")


def test_an_engine_not_configured_is_not_asked_for(monkeypatch):
    _without(monkeypatch, "qdrant-edge-py", "psycopg")
    assert check_packages(Settings()).status == "ok"

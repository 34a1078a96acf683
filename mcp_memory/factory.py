"""Builds a ``MemoryService`` from ``Settings``: the one bridge from configuration to the core.

The server and the CLI call ``build_service``; everything it builds takes explicit arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import Settings, vector_backend
from mcp_memory.embeddings.base import Embedder
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.errors import ConfigError, IndexDamaged
from mcp_memory.indexing.guard import Sharing
from mcp_memory.indexing.reindex import CurrentIndex, ReindexResult, reindex
from mcp_memory.ledger import Ledger
from mcp_memory.service import INDEX_GENERATION, MemoryService, Policy
from mcp_memory.store.disk import Reserve, prepare_data_dir
from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.vectors import IndexCatalog
from mcp_memory.vectors.chroma import ChromaCatalog, Hnsw, embedded_client, http_client

logger = logging.getLogger(__name__)

LEDGER_FILE = "ledger.sqlite3"
CHROMA_DIR = "chroma"


def reserve(settings: Settings, local: bool = True) -> Reserve:
    """The free space writes leave on the data dir's disk (none for a store elsewhere)."""
    mib = settings.disk.min_free_mb if local else 0
    return Reserve(settings.data_dir.expanduser(), int(mib * 1_048_576))


def build_embedder(settings: Settings) -> LocalEmbedder:
    cfg = settings.embedding
    return LocalEmbedder(
        cfg.model,
        backend=cfg.backend,
        device=cfg.device,
        batch_size=cfg.batch_size,
        query_cache_size=cfg.query_cache_size,
        threads=settings.performance.encode_threads,
        cache_dir=cfg.cache_dir,
    )


def build_service(
    settings: Settings, embedder: Embedder | None = None, clock: Clock = utc_now
) -> MemoryService:
    """Open the ledger now; the vector index opens on first use (it needs the model's size)."""
    embedder = embedder or build_embedder(settings)
    vec = settings.vector
    store = open_store(settings)
    ledger = store.ledger

    def open_index() -> CurrentIndex:
        # The guard the service holds says whether opening the HNSW graph is deferred
        # (``MemoryService.defer_index_open``); every Chroma collection opened here asks it.
        catalog = index_catalog(settings, ledger, lambda: service.index.open_deferred)
        return CurrentIndex(ledger, vec.collection, catalog, embedder.name, embedder.dimension)

    policy = Policy(
        limits=settings.limits,
        importance=settings.importance,
        retention=settings.retention,
        ranking=settings.ranking,
        consolidation=settings.consolidation,
        redaction=settings.redaction,
        performance=settings.performance,
    )
    ledger.access_log_days = settings.consolidation.boost_window_days
    service = MemoryService(
        ledger,
        embedder,
        open_index,
        policy,
        clock=clock,
        data_dir=store.data_dir,
        sharing=store.sharing,
    )
    return service


@dataclass(frozen=True)
class Store:
    """An opened ledger, the data dir the service keeps files in (None: nothing local), and
    how its processes share the vector index."""

    ledger: LedgerStore
    data_dir: Path | None
    sharing: Sharing | None = None


def open_store(settings: Settings) -> Store:
    """The configured ledger: SQLite in the data dir, or a PostgreSQL database."""
    if settings.storage.backend == "postgres":
        return _postgres_store(settings)
    data_dir = prepare_data_dir(settings.data_dir)
    return Store(Ledger(data_dir / LEDGER_FILE, reserve=reserve(settings)), data_dir)


def _postgres_store(settings: Settings) -> Store:
    """A PostgreSQL ledger (and, by default, its pgvector indexes): nothing kept on local
    disk, index writes ordered by an advisory lock across every server on the database."""
    try:
        from mcp_memory.postgres import Database, PostgresLedger
    except ImportError as exc:
        raise ConfigError(
            f'storage.backend = "postgres" needs the PostgreSQL driver ({exc.name} is not '
            "installed): pip install 'mcp-memory[postgres]'"
        ) from None

    cfg, vectors = settings.storage, vector_backend(settings)
    if vectors == "embedded":  # Chroma's files beside a shared ledger
        prepare_data_dir(settings.data_dir)
    database = Database(
        cfg.dsn.get_secret_value(),
        cfg.schema,
        pool_size=cfg.pool_size,
        timeout_s=cfg.timeout_s,
        vectors=vectors == "pgvector",
        ef_search=settings.vector.hnsw_search_ef,
    )
    try:
        ledger = PostgresLedger(database)
    except BaseException:
        database.close()
        raise
    sharing = Sharing(lock=lambda: database.held("index"), reopen=vectors == "embedded")
    return Store(ledger, None, sharing)


def index_catalog(
    settings: Settings, ledger: LedgerStore, defer_open: Callable[[], bool] = lambda: False
) -> IndexCatalog:
    """The configured vector engine's indexes: pgvector tables in the ledger's database, or
    Chroma collections."""
    if vector_backend(settings) == "pgvector":
        from mcp_memory.postgres import PostgresLedger
        from mcp_memory.postgres.vectors import PgVectorCatalog

        assert isinstance(ledger, PostgresLedger)
        vec = settings.vector
        return PgVectorCatalog(ledger.db, vec.hnsw_m, vec.hnsw_construction_ef)
    return chroma_catalog(settings, defer_open)


def chroma_client(settings: Settings) -> Any:
    """The Chroma client of the configured backend: embedded in the data dir, or a server."""
    vec = settings.vector
    if vector_backend(settings) == "http":
        return http_client(vec.host, vec.port, vec.ssl, vec.tenant, vec.database, vec.headers)
    return embedded_client(settings.data_dir.expanduser() / CHROMA_DIR)


def chroma_catalog(
    settings: Settings, defer_open: Callable[[], bool] = lambda: False
) -> ChromaCatalog:
    """The configured backend's collections, on one client made on first use."""
    vec = settings.vector
    return ChromaCatalog(
        settings.data_dir.expanduser() / CHROMA_DIR,
        connect=lambda: chroma_client(settings),
        hnsw=Hnsw(vec.hnsw_m, vec.hnsw_construction_ef, vec.hnsw_search_ef),
        scoped=vector_backend(settings) == "embedded",
        defer_open=defer_open,
        reserve=reserve(settings, local=vector_backend(settings) == "embedded"),
    )


def reindex_store(
    settings: Settings,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
    batch_size: int | None = None,
) -> ReindexResult:
    """Rebuild the configured store's vector index from its ledger, with ``model`` if given."""
    if embedder is None:
        embedding = settings.embedding.model_copy(
            update={"model": model or settings.embedding.model}
        )
        embedder = build_embedder(settings.model_copy(update={"embedding": embedding}))
    service = build_service(settings, embedder=embedder)
    catalog = index_catalog(settings, service.ledger)

    def rebuild() -> ReindexResult:
        return reindex(
            service.ledger,
            embedder,
            settings.vector.collection,
            catalog,
            batch_size=batch_size or settings.embedding.batch_size,
            progress=progress,
            write_lock=service.index.writing,
        )

    try:
        try:
            result = rebuild()
        except IndexDamaged as damage:  # the old index is unreadable: start from nothing
            logger.warning("%s; starting it afresh", damage)
            with service.index.writing():
                catalog.reset()
            result = rebuild()
        with service.index.writing():  # other processes reopen their handles
            service.ledger.bump_counter(INDEX_GENERATION)
        return result
    finally:
        catalog.close()
        service.close()

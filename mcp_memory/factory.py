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
from mcp_memory.config import Settings, local_vectors, vector_backend
from mcp_memory.embeddings.base import Embedder
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.errors import ConfigError, IndexDamaged
from mcp_memory.indexing.guard import Sharing
from mcp_memory.indexing.reindex import Catalogs, CurrentIndex, ReindexResult, reindex
from mcp_memory.ledger import Ledger
from mcp_memory.service import INDEX_GENERATION, MemoryService, Policy
from mcp_memory.store.disk import Reserve, prepare_data_dir
from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.vectors import IndexCatalog
from mcp_memory.vectors.chroma import ChromaCatalog, Hnsw, embedded_client, http_client

logger = logging.getLogger(__name__)

LEDGER_FILE = "ledger.sqlite3"
CHROMA_DIR = "chroma"
QDRANT_DIR = "qdrant"


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
        catalogs = vector_catalogs(settings, ledger, lambda: service.index.open_deferred)
        return CurrentIndex(ledger, vec.collection, catalogs, embedder.name, embedder.dimension)

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
    if local_vectors(settings):  # an embedded engine's files beside a shared ledger
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
    sharing = Sharing(lock=lambda: database.held("index"), reopen=local_vectors(settings))
    return Store(ledger, None, sharing)


def vector_catalogs(
    settings: Settings, ledger: LedgerStore, defer_open: Callable[[], bool] = lambda: False
) -> Catalogs:
    """Every engine's catalog, each made on first need (an index record may name an engine
    other than the configured one: a reindex moved it)."""

    def make(backend: str) -> IndexCatalog:
        if backend == "qdrant":
            return qdrant_catalog(settings)
        if backend == "pgvector":
            return pgvector_catalog(settings, ledger)
        return chroma_catalog(settings, defer_open)

    return Catalogs(vector_backend(settings), make)


def pgvector_catalog(settings: Settings, ledger: LedgerStore) -> IndexCatalog:
    """pgvector tables in the PostgreSQL ledger's own database."""
    from mcp_memory.postgres import PostgresLedger
    from mcp_memory.postgres.vectors import PgVectorCatalog

    if not isinstance(ledger, PostgresLedger):
        raise ConfigError(
            'pgvector keeps the vectors in the PostgreSQL ledger: set storage.backend = "postgres"'
            ' (and storage.dsn), or choose the "chroma" or "qdrant" vector backend'
        )
    vec = settings.vector
    return PgVectorCatalog(ledger.db, vec.hnsw_m, vec.hnsw_construction_ef)


def qdrant_catalog(settings: Settings) -> IndexCatalog:
    """Qdrant's collections: embedded (Qdrant Edge, in data_dir/qdrant) or on a server.
    Imported here, on first need: a Chroma store never loads the Qdrant packages."""
    from mcp_memory.vectors.qdrant.points import CollectionConfig

    cfg = settings.vector.qdrant
    config = CollectionConfig(
        hnsw_m=cfg.hnsw_m,
        hnsw_ef_construct=cfg.hnsw_ef_construct,
        hnsw_ef=cfg.hnsw_ef,
        full_scan_threshold=cfg.full_scan_threshold,
        default_segment_number=cfg.default_segment_number,
        indexing_threshold=cfg.indexing_threshold,
    )
    if settings.vector.mode == "embedded":
        from mcp_memory.vectors.qdrant.edge import EdgeCatalog

        return EdgeCatalog(
            settings.data_dir.expanduser() / QDRANT_DIR, config, reserve=reserve(settings)
        )
    from mcp_memory.vectors.qdrant.server import ServerCatalog, server_client

    key = cfg.api_key.get_secret_value() or None
    return ServerCatalog(
        lambda: server_client(
            cfg.url, cfg.host, cfg.port, cfg.grpc_port, cfg.https, key, cfg.prefer_grpc,
            cfg.timeout_s,
        ),
        config,
        where=f"the Qdrant server at {qdrant_address(settings)}",
    )  # fmt: skip


def qdrant_address(settings: Settings) -> str:
    """Where the Qdrant server is (never with the API key)."""
    cfg = settings.vector.qdrant
    if cfg.url:
        return cfg.url
    return f"{'https' if cfg.https else 'http'}://{cfg.host}:{cfg.port}"


def damaged_engine(settings: Settings, damage: IndexDamaged) -> str:
    """The engine whose files ``damage`` names (its path is in that engine's directory)."""
    path = Path(str(damage.path)).resolve()
    for engine, folder in (("qdrant", QDRANT_DIR), ("chroma", CHROMA_DIR)):
        if path.is_relative_to((settings.data_dir.expanduser() / folder).resolve()):
            return engine
    return vector_backend(settings)


def chroma_client(settings: Settings) -> Any:
    """The Chroma client of the configured mode: embedded in the data dir, or a server."""
    vec = settings.vector
    if vec.mode == "server":
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
        scoped=vec.mode == "embedded",
        defer_open=defer_open,
        reserve=reserve(settings, local=vec.mode == "embedded"),
    )


def reindex_store(
    settings: Settings,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
    batch_size: int | None = None,
    backend: str | None = None,
) -> ReindexResult:
    """Rebuild the configured store's vector index from its ledger, with ``model`` if given,
    on ``backend`` if given (else the configured one)."""
    if embedder is None:
        embedding = settings.embedding.model_copy(
            update={"model": model or settings.embedding.model}
        )
        embedder = build_embedder(settings.model_copy(update={"embedding": embedding}))
    service = build_service(settings, embedder=embedder)
    catalogs = vector_catalogs(settings, service.ledger)

    def rebuild() -> ReindexResult:
        return reindex(
            service.ledger,
            embedder,
            settings.vector.collection,
            catalogs,
            batch_size=batch_size or settings.embedding.batch_size,
            progress=progress,
            write_lock=service.index.writing,
            backend=backend,
        )

    try:
        try:
            result = rebuild()
        except IndexDamaged as damage:  # the old index is unreadable: start from nothing
            logger.warning("%s; starting it afresh", damage)
            with service.index.writing():
                catalogs[damaged_engine(settings, damage)].reset()
            result = rebuild()
        with service.index.writing():  # other processes reopen their handles
            service.ledger.bump_counter(INDEX_GENERATION)
        return result
    finally:
        catalogs.close()
        service.close()

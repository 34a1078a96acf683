"""Builds a ``MemoryService`` from ``Settings``: the one bridge from configuration to the core.

The server and the CLI call ``build_service``; everything it builds takes explicit arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import Settings
from mcp_memory.embeddings.base import Embedder
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.errors import IndexDamaged
from mcp_memory.indexing.reindex import Catalogs, CurrentIndex, ReindexResult, reindex
from mcp_memory.ledger import Ledger
from mcp_memory.service import INDEX_GENERATION, MemoryService, Policy
from mcp_memory.store.disk import Reserve, prepare_data_dir
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
    data_dir = prepare_data_dir(settings.data_dir)
    embedder = embedder or build_embedder(settings)
    vec = settings.vector

    ledger = Ledger(data_dir / LEDGER_FILE, reserve=reserve(settings))

    def open_index() -> CurrentIndex:
        # The guard the service holds says whether opening the HNSW graph is deferred
        # (``MemoryService.defer_index_open``); every Chroma collection opened here asks it.
        catalogs = vector_catalogs(settings, defer_open=lambda: service.index.open_deferred)
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
    service = MemoryService(ledger, embedder, open_index, policy, clock=clock, data_dir=data_dir)
    return service


def vector_catalogs(settings: Settings, defer_open: Callable[[], bool] = lambda: False) -> Catalogs:
    """Every engine's catalog, each made on first need (an index record may name an engine
    other than the configured one: a reindex moved it)."""

    def make(backend: str) -> IndexCatalog:
        if backend == "qdrant":
            return qdrant_catalog(settings)
        return chroma_catalog(settings, defer_open)

    return Catalogs(settings.vector.backend, make)


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
    qdrant_dir = (settings.data_dir.expanduser() / QDRANT_DIR).resolve()
    return "qdrant" if Path(str(damage.path)).resolve().is_relative_to(qdrant_dir) else "chroma"


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
    catalogs = vector_catalogs(settings)

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

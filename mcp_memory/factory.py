"""Builds a ``MemoryService`` from ``Settings``: the one bridge from configuration to the core.

The server and the CLI call ``build_service``; everything it builds takes explicit arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import Settings
from mcp_memory.embeddings.base import Embedder
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.errors import IndexDamaged
from mcp_memory.indexing.reindex import CurrentIndex, ReindexResult, reindex
from mcp_memory.ledger import Ledger
from mcp_memory.service import INDEX_GENERATION, MemoryService, Policy
from mcp_memory.store.disk import Reserve, prepare_data_dir
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
    data_dir = prepare_data_dir(settings.data_dir)
    embedder = embedder or build_embedder(settings)
    vec = settings.vector

    ledger = Ledger(data_dir / LEDGER_FILE, reserve=reserve(settings))

    def open_index() -> CurrentIndex:
        # The guard the service holds says whether opening the HNSW graph is deferred
        # (``MemoryService.defer_index_open``); every Chroma collection opened here asks it.
        catalog = chroma_catalog(settings, defer_open=lambda: service.index.open_deferred)
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
    service = MemoryService(ledger, embedder, open_index, policy, clock=clock, data_dir=data_dir)
    return service


def chroma_client(settings: Settings) -> Any:
    """The Chroma client of the configured backend: embedded in the data dir, or a server."""
    vec = settings.vector
    if vec.backend == "http":
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
        scoped=vec.backend == "embedded",
        defer_open=defer_open,
        reserve=reserve(settings, local=vec.backend == "embedded"),
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
    catalog = chroma_catalog(settings)

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

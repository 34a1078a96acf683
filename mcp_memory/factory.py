"""Builds a ``MemoryService`` from ``Settings``: the one bridge from configuration to the core.

The server and the CLI call ``build_service``; everything it builds takes explicit arguments.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import Settings
from mcp_memory.embeddings.base import Embedder
from mcp_memory.embeddings.local import LocalEmbedder
from mcp_memory.indexing.reindex import CurrentIndex, ReindexResult, reindex
from mcp_memory.ledger import Ledger
from mcp_memory.service import INDEX_GENERATION, MemoryService, Policy
from mcp_memory.vectors import chroma_clients
from mcp_memory.vectors.chroma import ChromaIndex, scoped_file

LEDGER_FILE = "ledger.sqlite3"
CHROMA_DIR = "chroma"


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
    data_dir = settings.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedder = embedder or build_embedder(settings)
    vec = settings.vector

    ledger = Ledger(data_dir / LEDGER_FILE)

    def open_index() -> CurrentIndex:
        return CurrentIndex(
            ledger, vec.collection, CollectionOpener(settings), embedder.name, embedder.dimension
        )

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
    return MemoryService(ledger, embedder, open_index, policy, clock=clock, data_dir=data_dir)


def chroma_client(settings: Settings) -> Any:
    """The Chroma client of the configured backend: embedded in the data dir, or a server."""
    vec = settings.vector
    if vec.backend == "http":
        return chroma_clients.http_client(
            vec.host, vec.port, vec.ssl, vec.tenant, vec.database, vec.headers
        )
    return chroma_clients.embedded_client(settings.data_dir.expanduser() / CHROMA_DIR)


class CollectionOpener:
    """Opens (or creates) named collections of the configured backend, on one shared client."""

    def __init__(self, settings: Settings, client: Any = None):
        self._settings = settings
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = chroma_client(self._settings)
            return self._client

    def __call__(self, name: str, model: str, dimension: int) -> ChromaIndex:
        vec = self._settings.vector
        return ChromaIndex(
            self._settings.data_dir.expanduser() / CHROMA_DIR,
            collection=name,
            model=model,
            dimension=dimension,
            hnsw_m=vec.hnsw_m,
            construction_ef=vec.hnsw_construction_ef,
            search_ef=vec.hnsw_search_ef,
            connect=lambda: self.client,
            scoped=vec.backend == "embedded",
        )

    def drop(self, name: str) -> bool:
        """Delete a collection and, for the embedded store, its local scoped copy."""
        scoped = self._settings.data_dir.expanduser() / CHROMA_DIR / scoped_file(name)
        for path in (scoped, *(scoped.with_name(scoped.name + x) for x in ("-wal", "-shm"))):
            path.unlink(missing_ok=True)
        return chroma_clients.drop_collection(self.client, name)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                chroma_clients.close_client(self._client)
                self._client = None


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
    opener = CollectionOpener(settings)
    try:
        result = reindex(
            service.ledger,
            embedder,
            settings.vector.collection,
            opener,
            opener.drop,
            batch_size=batch_size or settings.embedding.batch_size,
            progress=progress,
            write_lock=service.index.writing,
        )
        with service.index.writing():  # other processes reopen their handles
            service.ledger.bump_counter(INDEX_GENERATION)
        return result
    finally:
        opener.close()
        service.close()

"""Builds a ``MemoryService`` from ``Settings``: the one bridge from configuration to the core.

The server and the CLI call ``build_service``; everything it builds takes explicit arguments.
"""

from __future__ import annotations

from mcp_memory.clock import Clock, utc_now
from mcp_memory.config import Settings
from mcp_memory.embeddings import Embedder, SentenceTransformerEmbedder
from mcp_memory.ledger import Ledger
from mcp_memory.service import MemoryService, Policy
from mcp_memory.vectors import ChromaIndex

LEDGER_FILE = "ledger.sqlite3"
CHROMA_DIR = "chroma"


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    cfg = settings.embedding
    return SentenceTransformerEmbedder(
        cfg.model,
        device=cfg.device,
        batch_size=cfg.batch_size,
        query_cache_size=cfg.query_cache_size,
    )


def build_service(
    settings: Settings, embedder: Embedder | None = None, clock: Clock = utc_now
) -> MemoryService:
    """Open the ledger now; the vector index opens on first use (it needs the model's size)."""
    data_dir = settings.data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    embedder = embedder or build_embedder(settings)
    vec = settings.vector

    def open_index() -> ChromaIndex:
        return ChromaIndex(
            data_dir / CHROMA_DIR,
            collection=vec.collection,
            model=embedder.name,
            dimension=embedder.dimension,
            hnsw_m=vec.hnsw_m,
            construction_ef=vec.hnsw_construction_ef,
            search_ef=vec.hnsw_search_ef,
        )

    policy = Policy(
        limits=settings.limits,
        importance=settings.importance,
        retention=settings.retention,
        ranking=settings.ranking,
        consolidation=settings.consolidation,
        redaction=settings.redaction,
    )
    ledger = Ledger(data_dir / LEDGER_FILE)
    ledger.access_log_days = settings.consolidation.boost_window_days
    return MemoryService(ledger, embedder, open_index, policy, clock=clock, data_dir=data_dir)

"""Qdrant as a server (or cluster): collections through ``qdrant-client``.

``ServerIndex`` implements ``store.vectors.VectorIndex`` on one collection, ``ServerCatalog``
the collections by name on one shared client (``server_client``: ``url``, or host/port/https,
an API key, REST or gRPC). A collection records the embedding model in its metadata; scoped
searches are filtered searches over keyword payload indexes on user, agent and session. Other
machines write to the same collection, so nothing is cached or copied locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as m

from mcp_memory.errors import IndexMismatch, StoreDamaged, StoreUnavailable
from mcp_memory.store.vectors import VectorHit, VectorRecord, check_stamp, model_stamp
from mcp_memory.vectors.qdrant.points import (
    CREATED_AT,
    DEFAULT_CONFIG,
    MEMORY_ID,
    PAGE,
    SCOPE_KEYS,
    CollectionConfig,
    PointReads,
    pages,
    payload,
    point_id,
    point_ids,
    retrieved,
    scope_terms,
    scrolled,
)


class ServerIndex(PointReads):
    """A ``VectorIndex`` on a Qdrant collection (created, with its payload indexes, if
    missing), on a client the catalog shares."""

    def __init__(
        self, client: QdrantClient, name: str, model: str, dimension: int, config: CollectionConfig
    ):
        self._client = client
        self.name = name
        self._ef = config.hnsw_ef
        if not client.collection_exists(name):
            _create(client, name, model, dimension, config)
        metadata = client.get_collection(name).config.metadata
        if not metadata:
            raise StoreUnavailable(
                f"collection {name!r} on the Qdrant server records no embedding model: it was "
                "not made by mcp-memory (choose another [vector] collection), or the server "
                "predates collection metadata (Qdrant 1.16): upgrade it"
            )
        check_stamp(metadata, model, dimension)

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        points = [
            m.PointStruct(
                id=point_id(r.id),
                vector=np.asarray(r.vector, dtype=np.float32).tolist(),
                payload=payload(r),
            )
            for r in records
        ]
        for start in range(0, len(points), PAGE):
            self._client.upsert(self.name, points[start : start + PAGE], wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        for chunk in pages(ids):
            self._client.delete(self.name, m.PointIdsList(points=list(point_ids(chunk))), wait=True)

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        if (ids is not None and not ids) or k <= 0:
            return []
        must: list[Any] = [
            m.FieldCondition(key=key, match=m.MatchValue(value=value))
            for key, value in scope_terms(scope)
        ]
        if ids is not None:
            must.append(m.HasIdCondition(has_id=list(point_ids(ids))))
        hits = self._client.query_points(
            self.name,
            query=np.asarray(vector, dtype=np.float32).tolist(),
            query_filter=m.Filter(must=must) if must else None,
            limit=k,
            with_payload=[MEMORY_ID],
            search_params=m.SearchParams(
                hnsw_ef=max(self._ef, k), acorn=m.AcornSearchParams(enable=True) if must else None
            ),
        ).points
        return [VectorHit(h.payload[MEMORY_ID], float(h.score)) for h in hits]

    def _records(self, ids: Sequence[str], with_vector: bool) -> list[tuple[str, Any]]:
        return retrieved(
            ids,
            lambda points: self._client.retrieve(
                self.name, points, with_payload=False, with_vectors=with_vector
            ),
        )

    def all_ids(self) -> list[str]:
        return scrolled(
            lambda offset: self._client.scroll(
                self.name, limit=PAGE, offset=offset, with_payload=[MEMORY_ID], with_vectors=False
            )
        )

    def count(self) -> int:
        return self._client.count(self.name, exact=True).count

    def close(self) -> None:
        """Nothing to release: the catalog closes the shared client."""


def _create(
    client: QdrantClient, name: str, model: str, dimension: int, config: CollectionConfig
) -> None:
    try:
        client.create_collection(
            name,
            vectors_config=m.VectorParams(size=dimension, distance=m.Distance.COSINE),
            hnsw_config=m.HnswConfigDiff(
                m=config.hnsw_m,
                ef_construct=config.hnsw_ef_construct,
                full_scan_threshold=config.full_scan_threshold,
            ),
            optimizers_config=m.OptimizersConfigDiff(
                default_segment_number=config.default_segment_number,
                indexing_threshold=config.indexing_threshold,
            ),
            metadata=model_stamp(model, dimension),
        )
    except Exception:
        if not client.collection_exists(name):  # not a race with another process's create
            raise
    for key in SCOPE_KEYS:
        client.create_payload_index(name, key, m.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(name, CREATED_AT, m.PayloadSchemaType.DATETIME, wait=True)


class ServerCatalog:
    """Qdrant collections by name, on one client made on first need by ``connect``."""

    def __init__(
        self,
        connect: Callable[[], QdrantClient],
        config: CollectionConfig = DEFAULT_CONFIG,
        where: str = "the Qdrant server",
    ):
        self._connect = connect
        self._config = config
        self._where = where
        self._client: QdrantClient | None = None

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def open(self, name: str, model: str, dimension: int) -> ServerIndex:
        try:
            return ServerIndex(self.client, name, model, dimension, self._config)
        except (IndexMismatch, StoreUnavailable):
            raise
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot use collection {name!r} on {self._where}: {exc}. Start the server, "
                "or fix [vector.qdrant] url (or host, port, https) and api_key in the config"
            ) from exc

    def names(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def drop(self, name: str) -> bool:
        if not self.client.collection_exists(name):
            return False
        self.client.delete_collection(name)
        return True

    def reset(self) -> None:
        """A Qdrant server's store is the server's to mend (its own replicas and snapshots):
        refused with what to do. Nothing here reports a server's collection as damaged."""
        raise StoreDamaged(
            f"the vector index on {self._where} is damaged: repair or recreate the collection "
            "on the server, then run `mcp-memory reindex` to fill it from the ledger"
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def server_client(
    url: str = "",
    host: str = "127.0.0.1",
    port: int = 6333,
    grpc_port: int = 6334,
    https: bool = False,
    api_key: str | None = None,
    prefer_grpc: bool = False,
    timeout_s: int = 30,
) -> QdrantClient:
    """A client for a Qdrant server or cluster: ``url`` if given, else host/port/https."""
    where: dict[str, Any] = {"url": url} if url else {"host": host, "https": https}
    return QdrantClient(
        **where,
        port=port,
        grpc_port=grpc_port,
        api_key=api_key or None,
        prefer_grpc=prefer_grpc,
        timeout=timeout_s,
        check_compatibility=False,
    )

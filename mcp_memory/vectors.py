"""The vector index: a derived copy of the memories' embeddings, rebuildable from the ledger.

``VectorIndex`` is the narrow protocol the service needs; ``ChromaIndex`` implements it on an
embedded Chroma ``PersistentClient`` collection in cosine space. The index never embeds text
and never decides lifecycle: it stores vectors with the scope ids needed to filter a query, and
answers nearest-neighbour queries. The collection records the embedding model and dimension it
was built with, and opening it with another model is refused (``IndexMismatch``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mcp_memory.errors import IndexMismatch

logger = logging.getLogger(__name__)

SCOPE_KEYS = ("user_id", "agent_id", "session_id")


@dataclass(frozen=True)
class VectorRecord:
    """One vector to store, with the scope ids a query may filter on ('' for none)."""

    id: str
    vector: np.ndarray
    user_id: str = ""
    agent_id: str = ""
    session_id: str = ""


@dataclass(frozen=True)
class VectorHit:
    """One nearest neighbour: its id and cosine similarity to the query."""

    id: str
    similarity: float


class VectorIndex(Protocol):
    """What the service needs from a vector store."""

    def upsert(self, records: Sequence[VectorRecord]) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]: ...

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]: ...

    def all_ids(self) -> list[str]: ...

    def count(self) -> int: ...


class ChromaIndex:
    """Vectors in an embedded Chroma collection (``PersistentClient``), cosine space."""

    def __init__(
        self,
        path: Path,
        collection: str,
        model: str,
        dimension: int,
        hnsw_m: int = 16,
        construction_ef: int = 100,
        search_ef: int = 100,
    ):
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(
            path=str(path), settings=ChromaSettings(anonymized_telemetry=False)
        )
        self._collection = self._client.get_or_create_collection(
            name=collection,
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "max_neighbors": hnsw_m,
                    "ef_construction": construction_ef,
                    "ef_search": search_ef,
                }
            },
            metadata={"embedding_model": model, "dimension": dimension},
        )
        self._check_model(model, dimension)

    def _check_model(self, model: str, dimension: int) -> None:
        meta = self._collection.metadata or {}
        built_with = (meta.get("embedding_model"), meta.get("dimension"))
        if built_with != (model, dimension):
            raise IndexMismatch(
                f"the vector index was built with model {built_with[0]!r} "
                f"({built_with[1]} dimensions) but the configured model is {model!r} "
                f"({dimension} dimensions): run `mcp-memory reindex` to rebuild the index "
                "with the configured model, or configure the model it was built with"
            )

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        self._collection.upsert(
            ids=[r.id for r in records],
            embeddings=np.stack([r.vector for r in records]).astype(np.float32),
            metadatas=[
                {"user_id": r.user_id, "agent_id": r.agent_id, "session_id": r.session_id}
                for r in records
            ],
        )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The k nearest vectors, optionally within a scope or a set of ids."""
        if ids is not None and not ids:
            return []
        args: dict[str, Any] = {
            "query_embeddings": [np.asarray(vector, dtype=np.float32)],
            "n_results": k,
            "include": ["distances"],
        }
        if where := _where(scope or {}):
            args["where"] = where
        if ids is not None:
            args["ids"] = list(ids)
            args["n_results"] = min(k, len(ids))
        result = self._collection.query(**args)
        return [
            VectorHit(id=hit_id, similarity=1.0 - float(distance))
            for hit_id, distance in zip(result["ids"][0], result["distances"][0], strict=True)
        ]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(got["ids"], got["embeddings"], strict=True)
        }

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return set(self._collection.get(ids=list(ids), include=[])["ids"])

    def all_ids(self) -> list[str]:
        ids: list[str] = []
        while batch := self._collection.get(include=[], limit=5000, offset=len(ids))["ids"]:
            ids.extend(batch)
        return ids

    def count(self) -> int:
        return self._collection.count()

    def close(self) -> None:
        """Release the client; a new ``ChromaIndex`` on the path then reloads it from disk."""
        self._client.close()


def _where(scope: dict[str, str]) -> dict[str, Any] | None:
    terms = [{key: value} for key, value in scope.items() if key in SCOPE_KEYS]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}

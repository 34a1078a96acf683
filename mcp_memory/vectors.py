"""The vector index: a derived copy of the memories' embeddings, rebuildable from the ledger.

``VectorIndex`` is the narrow protocol the service needs; ``ChromaIndex`` implements it on an
embedded Chroma ``PersistentClient`` collection in cosine space. The index never embeds text
and never decides lifecycle: it stores vectors with the scope ids needed to filter a query, and
answers nearest-neighbour queries. The collection records the embedding model and dimension it
was built with, and opening it with another model is refused (``IndexMismatch``).

Searches over everything use Chroma's HNSW graph; searches within a scope (or a filtered set of
ids) are exact, over a copy of the vectors clustered by scope (``ledger.ScopedVectors``), because a
filtered HNSW search slows down as the filter gets more selective.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mcp_memory.errors import IndexMismatch
from mcp_memory.ledger import ScopedVectors

logger = logging.getLogger(__name__)

SCOPE_KEYS = ("user_id", "agent_id", "session_id")


def scoped_file(collection: str) -> str:
    """The file of a collection's scope-clustered copy (one per collection: models differ)."""
    return f"scoped_{collection}.sqlite3"


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


@dataclass(frozen=True)
class VectorBlock:
    """Vectors read together: row ``n`` of ``matrix`` is the vector of ``ids[n]``.

    A scope's vectors, read once for an exact search, serve the rest of that search too (the
    cosines of candidates that were not among the nearest, the order of their sessions)."""

    ids: list[str]
    matrix: np.ndarray

    def nearest(self, vector: np.ndarray, k: int) -> list[VectorHit]:
        """The exact k most similar rows, best first (ties keep row order)."""
        if not self.ids or k <= 0:
            return []
        sims = self.matrix @ np.asarray(vector, dtype=np.float32)
        top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        return [VectorHit(self.ids[i], float(sims[i])) for i in top]

    def by_id(self) -> dict[str, np.ndarray]:
        return dict(zip(self.ids, self.matrix, strict=True))


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

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        """Every vector within a scope (and among ``ids``), for an exact search over a small
        scope or filtered set; None when the index has no cheap way to read them (a remote
        store), and the search then asks ``query``."""
        ...


class ChromaIndex:
    """Vectors in a Chroma collection, cosine space.

    The client is embedded (``PersistentClient`` at ``path``) unless one is given: a
    ``chroma_backend.http_client`` talks to a Chroma server with the same collection code.
    """

    def __init__(
        self,
        path: Path,
        collection: str,
        model: str,
        dimension: int,
        hnsw_m: int = 16,
        construction_ef: int = 100,
        search_ef: int = 100,
        client: Any = None,
        scoped: bool = True,
    ):
        if client is None:
            from mcp_memory.chroma_backend import embedded_client

            client = embedded_client(path)
        self._client = client
        self.name = collection
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
        # The local scope-clustered copy serves exact scoped search. Off for a Chroma server,
        # which other machines write to: a local copy would miss their memories.
        self._scoped = ScopedVectors(path / scoped_file(collection), dimension) if scoped else None
        if self._scoped is not None and self._scoped.count() == 0 and self._collection.count() > 0:
            self._backfill_scoped()

    def _backfill_scoped(self, page: int = 5000) -> None:
        """Fill the scoped copy from Chroma (an index built before the copy existed)."""
        logger.info("building the scoped vector table from the Chroma collection")
        offset = 0
        while True:
            got = self._collection.get(
                include=["embeddings", "metadatas"], limit=page, offset=offset
            )
            if not got["ids"]:
                return
            self._scoped.upsert(
                [
                    (i, m.get("user_id", ""), m.get("agent_id", ""), m.get("session_id", ""), v)
                    for i, m, v in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True)
                ]
            )
            offset += len(got["ids"])

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
        if self._scoped is not None:
            self._scoped.upsert(
                [(r.id, r.user_id, r.agent_id, r.session_id, r.vector) for r in records]
            )

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._collection.delete(ids=list(ids))
            if self._scoped is not None:
                self._scoped.delete(ids)

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        """A scope's vectors (and among ``ids``) from the scoped copy; None without one."""
        if self._scoped is None:
            return None
        return VectorBlock(*self._scoped.read(scope, ids))

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
        """Stored vectors by id: from the local scoped copy when it has them (a keyed read, far
        cheaper than a Chroma ``get``), the rest from Chroma."""
        if not ids:
            return {}
        found = self._scoped.vectors(ids) if self._scoped is not None else {}
        rest = [i for i in ids if i not in found]
        if rest:
            got = self._collection.get(ids=rest, include=["embeddings"])
            found.update(
                (i, np.asarray(v, dtype=np.float32))
                for i, v in zip(got["ids"], got["embeddings"], strict=True)
            )
        return found

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return set(self._collection.get(ids=list(ids), include=[])["ids"])

    def all_ids(self) -> list[str]:
        """Ids held by both the HNSW collection and the scoped copy (one missing from either
        counts as missing, so ``repair_index`` rewrites it to both)."""
        ids: list[str] = []
        while batch := self._collection.get(include=[], limit=5000, offset=len(ids))["ids"]:
            ids.extend(batch)
        if self._scoped is None:
            return ids
        scoped = set(self._scoped.all_ids())
        return [i for i in ids if i in scoped]

    def count(self) -> int:
        return self._collection.count()

    def close_local(self) -> None:
        """Close the local scoped copy's file (the client may be shared: it stays open)."""
        if self._scoped is not None:
            self._scoped.close()
            self._scoped = None

    def close(self) -> None:
        """Release the client; a new ``ChromaIndex`` on the path then reloads it from disk."""
        self.close_local()
        self._client.close()


def _where(scope: dict[str, str]) -> dict[str, Any] | None:
    terms = [{key: value} for key, value in scope.items() if key in SCOPE_KEYS]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}

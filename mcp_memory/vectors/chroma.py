"""Chroma, the vector engine: one collection as a ``VectorIndex``, and the catalog of collections.

``ChromaIndex`` implements ``store.vectors.VectorIndex`` on a Chroma collection in cosine space.
It never embeds text and never decides lifecycle: it stores vectors with the scope ids needed to
filter a query, and answers nearest-neighbour queries. The collection records the embedding
model and dimension it was built with, and opening it with another model is refused
(``IndexMismatch``).

``ChromaCatalog`` implements ``store.vectors.IndexCatalog``: collections by name on one shared
client, the embedded store on local disk (``embedded_client``) or a Chroma server over HTTP
(``http_client``); both give the same ``chromadb`` API, so the collection code is shared. This
is the one module that imports ``chromadb``.

Searches over everything use Chroma's HNSW graph; searches within a scope (or a filtered set of
ids) are exact, over a copy of the vectors clustered by scope (``vectors.scoped``), because a
filtered HNSW search slows down as the filter gets more selective.

Failures that mean a full disk or damaged files become ``StorageFull`` and ``IndexDamaged``
(``vectors.faults``); the catalog can ``reset`` a damaged embedded store to empty, for the
service to rebuild from the ledger. While the disk is under the reserve (``store.disk``),
Chroma is left alone: it can block holding the GIL when a write meets a full disk, so writes
are refused (they stay in the ledger's outbox) and searches scan the scoped copy instead.
"""

from __future__ import annotations

import heapq
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mcp_memory.errors import StoreDamaged
from mcp_memory.store.disk import Reserve
from mcp_memory.store.vectors import (
    VectorBlock,
    VectorHit,
    VectorRecord,
    check_stamp,
    model_stamp,
)
from mcp_memory.vectors.chroma_clients import close_client, embedded_client, forget_system
from mcp_memory.vectors.chroma_clients import http_client as http_client
from mcp_memory.vectors.chroma_files import remove_leftovers
from mcp_memory.vectors.faults import translated
from mcp_memory.vectors.scoped import ScopedVectors, delete_files

logger = logging.getLogger(__name__)

SCOPE_KEYS = ("user_id", "agent_id", "session_id")


def scoped_file(collection: str) -> str:
    """The file of a collection's scope-clustered copy (one per collection: models differ)."""
    return f"scoped_{collection}.sqlite3"


@dataclass(frozen=True)
class Hnsw:
    """The HNSW graph's settings, fixed when a collection is created."""

    max_neighbors: int = 16
    ef_construction: int = 100
    ef_search: int = 100


class ChromaIndex:
    """Vectors in a Chroma collection, cosine space.

    The client is the embedded ``PersistentClient`` at ``path`` unless ``connect`` returns
    another (a catalog's shared client, embedded or ``http_client``); only a client the index
    made itself is closed with it.

    Opening Chroma is slow on a large store (importing ``chromadb`` and loading the HNSW graph:
    about a second at 100k memories), and a scoped search never needs it. So once the local
    scoped copy has recorded the model it was built with, the collection opens on first need
    rather than here. Until it is open, a search over everything is answered exactly from the
    scoped copy (a scan: 0.3 s at 100k) while ``defer_open()`` says so (the server's warm-up
    opens it at a quiet moment, ``IndexGuard.defer_open``) or another thread is opening it.
    """

    def __init__(
        self,
        path: Path,
        collection: str,
        model: str,
        dimension: int,
        hnsw: Hnsw = Hnsw(),
        scoped: bool = True,
        connect: Callable[[], Any] | None = None,
        defer_open: Callable[[], bool] = lambda: False,
        reserve: Reserve | None = None,
    ):
        self._path = path
        self._reserve = reserve or Reserve(path, 0)
        self._owns_client = connect is None
        self._connect = connect or (lambda: embedded_client(path))
        self._defer_open = defer_open
        self._client: Any = None
        self._chroma: Any = None
        self._opening = threading.Lock()
        self.name = collection
        self._model = (model, dimension)
        self._hnsw = {"space": "cosine", **asdict(hnsw)}
        # The local scope-clustered copy serves exact scoped search. Off for a Chroma server,
        # which other machines write to: a local copy would miss their memories.
        self._scoped = ScopedVectors(path / scoped_file(collection), dimension) if scoped else None
        if self._scoped is None or self._scoped.built_with() != self._model:
            _ = self._collection  # check the model now, and fill and stamp the scoped copy

    @property
    def chroma_open(self) -> bool:
        """Whether the Chroma collection is open yet (a scoped search never needs it)."""
        return self._chroma is not None

    @property
    def _collection(self) -> Any:
        """The Chroma collection, opened (and checked against the model) on first use."""
        if self._chroma is None:
            with self._opening:
                if self._chroma is None:
                    self._chroma = self._open()
        return self._chroma

    def _open(self) -> Any:
        if self._short_of_space():  # opening may write (a new collection, Chroma's log)
            raise self._reserve.full()
        self._client = self._connect()
        model, dimension = self._model
        collection = self._client.get_or_create_collection(
            name=self.name,
            embedding_function=None,
            configuration={"hnsw": self._hnsw},
            metadata=model_stamp(model, dimension),
        )
        check_stamp(collection.metadata, model, dimension)
        if self._scoped is not None:
            stamp = self._scoped.built_with()  # None: written before copies were stamped
            if stamp is not None and stamp != self._model:
                self._scoped.clear()
            if self._scoped.count() == 0 and collection.count() > 0:
                self._backfill_scoped(collection)
            if stamp != self._model:
                self._scoped.record_model(model, dimension)
        return collection

    def _backfill_scoped(self, collection: Any, page: int = 5000) -> None:
        """Fill the scoped copy from Chroma (an index built before the copy existed)."""
        logger.info("building the scoped vector table from the Chroma collection")
        offset = 0
        while True:
            got = collection.get(include=["embeddings", "metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            self._scoped.upsert(
                [
                    (i, m.get("user_id", ""), m.get("agent_id", ""), m.get("session_id", ""), v)
                    for i, m, v in zip(got["ids"], got["metadatas"], got["embeddings"], strict=True)
                ]
            )
            offset += len(got["ids"])

    def _scan(self, vector: np.ndarray, k: int, scope: dict[str, str] | None) -> list[VectorHit]:
        """The exact k nearest within the scope, block by block from the scoped copy."""
        best: list[VectorHit] = []
        for ids, matrix in self._scoped.blocks(scope):
            found = [*best, *VectorBlock(ids, matrix).nearest(vector, k)]
            best = heapq.nlargest(k, found, key=lambda hit: hit.similarity)
        return best

    def _short_of_space(self) -> bool:
        """Whether to keep away from Chroma: its disk is under the reserve (and the scoped
        copy can answer instead)."""
        return self._scoped is not None and self._reserve.low()

    @translated
    def upsert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        self._reserve.check()
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

    @translated
    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._reserve.check()
            self._collection.delete(ids=list(ids))
            if self._scoped is not None:
                self._scoped.delete(ids)

    @translated
    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        """A scope's vectors (and among ``ids``) from the scoped copy; None without one."""
        if self._scoped is None:
            return None
        return VectorBlock(*self._scoped.read(scope, ids))

    @translated
    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The k nearest vectors, optionally within a scope or a set of ids. Scanned exactly
        from the scoped copy while Chroma is not open, if opening is deferred or another
        thread is opening it, and while the disk is under the reserve."""
        if ids is not None and not ids:
            return []
        if self._short_of_space():
            if ids is not None:
                return VectorBlock(*self._scoped.read(scope, ids)).nearest(vector, k)
            return self._scan(vector, k, scope)
        closed = ids is None and self._scoped is not None and self._chroma is None
        if closed and (self._defer_open() or self._opening.locked()):
            return self._scan(vector, k, scope)
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

    @translated
    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id: from the local scoped copy when it has them (a keyed read, far
        cheaper than a Chroma ``get``), the rest from Chroma."""
        if not ids:
            return {}
        found = self._scoped.vectors(ids) if self._scoped is not None else {}
        rest = [i for i in ids if i not in found]
        if rest and not self._short_of_space():
            found.update(self._get_vectors(rest))
        return found

    def _get_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Chroma's stored vectors of these ids. Chroma may answer a ``get`` with fewer
        embeddings than ids (seen under concurrent writes; chroma-core/chroma#1265), and then
        they cannot be paired: each id is asked again on its own, and one with no embedding is
        left out, as an id the index does not hold."""
        got = self._collection.get(ids=list(ids), include=["embeddings"])
        vectors = got["embeddings"]
        if vectors is not None and len(vectors) == len(got["ids"]):
            return {
                i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], vectors, strict=True)
            }
        logger.warning(
            "Chroma returned %d ids but fewer vectors; reading them one by one", len(got["ids"])
        )
        found = {}
        for memory_id in got["ids"]:
            one = self._collection.get(ids=[memory_id], include=["embeddings"])
            if one["embeddings"] is not None and len(one["embeddings"]) == len(one["ids"]) == 1:
                found[memory_id] = np.asarray(one["embeddings"][0], dtype=np.float32)
        return found

    @translated
    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return set(self._collection.get(ids=list(ids), include=[])["ids"])

    @translated
    def all_ids(self) -> list[str]:
        """Ids held by both the HNSW collection and the scoped copy (one missing from either
        counts as missing, so ``repair_index`` rewrites it to both). The scoped copy's alone
        while the disk is under the reserve (it is written after Chroma, so it holds no more)."""
        if self._short_of_space():
            return self._scoped.all_ids()
        ids: list[str] = []
        while batch := self._collection.get(include=[], limit=5000, offset=len(ids))["ids"]:
            ids.extend(batch)
        if self._scoped is None:
            return ids
        scoped = set(self._scoped.all_ids())
        return [i for i in ids if i in scoped]

    @translated
    def count(self) -> int:
        if self._short_of_space():
            return self._scoped.count()
        return self._collection.count()

    def close(self) -> None:
        """Close the scoped copy's file, and the client if this index made it (a catalog's
        client is shared: the catalog closes it). A new index on the path then reloads the
        collection from disk."""
        if self._scoped is not None:
            self._scoped.close()
            self._scoped = None
        if self._owns_client and self._client is not None:
            self._client.close()


class ChromaCatalog:
    """Chroma collections by name, on one client shared by them all and made on first need.

    ``path`` is where collections keep their scoped copies (``scoped=False`` for a Chroma
    server: other machines write to it, so a local copy would miss their memories);
    ``connect`` makes the client. Every collection opened here defers opening its HNSW graph
    while ``defer_open()`` says so (``ChromaIndex``).
    """

    def __init__(
        self,
        path: Path,
        connect: Callable[[], Any],
        hnsw: Hnsw = Hnsw(),
        scoped: bool = True,
        defer_open: Callable[[], bool] = lambda: False,
        reserve: Reserve | None = None,
    ):
        self._path = path
        self._reserve = reserve or Reserve(path, 0)
        self._connect = connect
        self._hnsw = hnsw
        self._scoped = scoped
        self._defer_open = defer_open
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The shared ``chromadb`` client, made on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    @translated
    def open(self, name: str, model: str, dimension: int) -> ChromaIndex:
        return ChromaIndex(
            self._path,
            collection=name,
            model=model,
            dimension=dimension,
            hnsw=self._hnsw,
            scoped=self._scoped,
            connect=lambda: self.client,
            defer_open=self._defer_open,
            reserve=self._reserve,
        )

    @translated
    def names(self) -> list[str]:
        """Names of the collections the client can see."""
        return [c if isinstance(c, str) else c.name for c in self.client.list_collections()]

    @translated
    def drop(self, name: str) -> bool:
        """Delete a collection, its local scoped copy and, embedded, the HNSW folder Chroma
        leaves behind (``chroma_files``); True when a collection was deleted."""
        delete_files(self._path / scoped_file(name))
        if name not in self.names():
            return False
        self.client.delete_collection(name)
        freed = remove_leftovers(self._path)
        if freed:
            logger.info("removed %.1f MB of deleted collections' files", freed / 1e6)
        return True

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                close_client(self._client)
                self._client = None

    def reset(self) -> None:
        """Delete every collection with the files around them, leaving an empty store: the
        embedded store's files are damaged (``IndexDamaged``), and the ledger rebuilds them.
        A Chroma server's store is the server's to mend: refused with what to do."""
        if not self._scoped:
            raise StoreDamaged(
                "the Chroma server reports its store damaged: repair or recreate it on the "
                "server, then run `mcp-memory reindex` to fill it from the ledger"
            )
        with self._lock:
            if self._client is not None:
                try:
                    close_client(self._client)
                except Exception:  # a damaged store may fail to close; it is deleted next
                    logger.debug("closing the damaged Chroma client failed", exc_info=True)
                self._client = None
            forget_system(self._path)
            logger.warning("deleting the damaged vector index %s to rebuild it", self._path)
            shutil.rmtree(self._path, ignore_errors=True)
            self._path.mkdir(parents=True, exist_ok=True)


def _where(scope: dict[str, str]) -> dict[str, Any] | None:
    terms = [{key: value} for key, value in scope.items() if key in SCOPE_KEYS]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}

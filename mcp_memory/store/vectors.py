"""The vector index's protocols and the plain records they exchange.

``VectorIndex`` is the narrow protocol every vector engine implements (Chroma,
``vectors.chroma``; Qdrant, ``vectors.qdrant``): it stores vectors with the scope ids a query may filter on, and answers
nearest-neighbour queries. It never embeds text and never decides lifecycle. ``IndexCatalog``
is the engine's indexes by name, which a reindex needs: build a new one beside the current one,
then drop the old.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from mcp_memory.clock import to_iso
from mcp_memory.errors import IndexMismatch

if TYPE_CHECKING:
    from mcp_memory.models import Memory


@dataclass(frozen=True)
class VectorRecord:
    """One vector to store, with the scope ids a query may filter on ('' for none) and when
    the memory was made (ISO 8601, UTC; '' when unknown): an engine may index it for its own
    users' date filters (Qdrant does); searches narrow dates through the ledger."""

    id: str
    vector: np.ndarray
    user_id: str = ""
    agent_id: str = ""
    session_id: str = ""
    created_at: str = ""

    @classmethod
    def of(cls, memory: Memory, vector: np.ndarray) -> VectorRecord:
        """The record of a memory's vector: its id, scope ids and creation time."""
        return cls(
            id=memory.id,
            vector=vector,
            user_id=memory.user_id or "",
            agent_id=memory.agent_id or "",
            session_id=memory.session_id or "",
            created_at=to_iso(memory.created_at),
        )


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


def model_stamp(model: str, dimension: int) -> dict[str, object]:
    """What an index records about the vectors it holds: the model and its dimension (Chroma's
    collection metadata, Qdrant's stamp file or collection metadata)."""
    return {"embedding_model": model, "dimension": dimension}


def check_stamp(found: object, model: str, dimension: int) -> None:
    """``check_model`` on what an index recorded (``model_stamp``; anything else, or nothing,
    names no model)."""
    meta = found if isinstance(found, dict) else {}
    check_model(meta.get("embedding_model"), meta.get("dimension"), model, dimension)


def check_model(built_model: object, built_dimension: object, model: str, dimension: int) -> None:
    """Refuse an index built with another model or dimension: its vectors mean something else
    (``IndexMismatch``, pointing to ``mcp-memory reindex``)."""
    if (built_model, built_dimension) != (model, dimension):
        raise IndexMismatch(
            f"the vector index was built with model {built_model!r} "
            f"({built_dimension} dimensions) but the configured model is {model!r} "
            f"({dimension} dimensions): run `mcp-memory reindex` to rebuild the index "
            "with the configured model, or configure the model it was built with"
        )


def known_or_read(
    ids: Sequence[str],
    known: Mapping[str, np.ndarray],
    read: Callable[[Sequence[str]], Mapping[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The vectors of these ids: those already ``known`` (read earlier by the same search),
    and only the others through ``read``."""
    found = {i: known[i] for i in ids if i in known}
    if len(found) < len(ids):
        found.update(read([i for i in ids if i not in found]))
    return found


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
    ) -> list[VectorHit]:
        """The k nearest (approximate), optionally within a scope or among ``ids``."""
        ...

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

    def close(self) -> None:
        """Release what the index holds (a client it made, local files)."""
        ...


@runtime_checkable
class Optimizable(Protocol):
    """An index that builds its search graphs only when asked (embedded Qdrant): a bulk
    writer (a reindex, an import) asks once it is done, where no search waits on it."""

    def optimize(self) -> bool: ...

    def unindexed(self) -> int:
        """Vectors outside any search graph (searched by brute force until the next
        ``optimize``)."""
        ...


@runtime_checkable
class ScoresInPlace(Protocol):
    """An index that scores vectors where they are stored (pgvector, in the database): a
    search needs each candidate's cosine to the query, not its vector, and a vector is 1.5 KB
    to send and decode where its score is 8 bytes."""

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """The cosine of ``vector`` (L2-normalised) to each of these ids' vectors it holds."""
        ...


def scores_in_place(index: VectorIndex) -> bool:
    """Whether ``index`` (or the index behind a wrapper that asks its own: the service's
    guards) scores vectors where it stores them, in another process: reading the ledger on
    another thread meanwhile then overlaps two waits, where with an index in this process
    the two threads would only contend for the interpreter."""
    ask = getattr(index, "scores_in_place", None)
    return bool(ask()) if callable(ask) else isinstance(index, ScoresInPlace)


def similarities(index: VectorIndex, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
    """The cosine of ``vector`` to each of these ids' vectors in ``index`` (those it holds):
    scored by the index when it can (``ScoresInPlace``), else from the vectors it reads."""
    if not ids:
        return {}
    if isinstance(index, ScoresInPlace):
        return index.similarities(vector, ids)
    return {i: float(np.dot(vector, v)) for i, v in index.vectors(ids).items()}


class IndexCatalog(Protocol):
    """An engine's indexes by name (Chroma: its collections), each built with one model."""

    def open(self, name: str, model: str, dimension: int) -> VectorIndex:
        """The index ``name``, created if missing; refused (``IndexMismatch``) when it was built
        with another model or dimension."""
        ...

    def drop(self, name: str) -> bool:
        """Delete the index ``name`` and what it keeps beside it; True when one was deleted."""
        ...

    def close(self) -> None:
        """Release the client the catalog's indexes share."""
        ...

    def reset(self) -> None:
        """Delete every index and what the engine keeps beside them, leaving an empty store:
        its files were found damaged (``IndexDamaged``), and the ledger refills it. An engine
        that cannot (a server's store) raises ``StoreDamaged`` saying what to do."""
        ...

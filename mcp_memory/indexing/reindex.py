"""Which Chroma collection is current, and rebuilding it from the ledger (`mcp-memory reindex`).

The configured ``vector.collection`` is a base name. The collection actually serving it is
recorded in the ledger's ``state`` table (the base name itself until a first reindex). A
reindex embeds every memory of the ledger (which holds the text) into a new collection
``<base>-<suffix>``, then records it as current and deletes the old one. Until that switch the
old collection keeps serving searches, and ``CurrentIndex`` also writes new and changed memories
into the collection being built (when it uses the same model), so nothing added meanwhile is
missing from it; a last pass compares the new collection with the ledger before the switch.

``CurrentIndex`` is the ``VectorIndex`` the service holds: it follows the ledger's record on
every call, so every process sharing the data dir moves to the new collection by itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcp_memory.embeddings.base import Embedder
from mcp_memory.errors import IndexMismatch
from mcp_memory.ledger.sqlite import Ledger
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import VectorHit, VectorRecord
from mcp_memory.vectors.chroma import ChromaIndex

# (collection name, model name, dimension) -> an opened collection
OpenCollection = Callable[[str, str, int], ChromaIndex]


def current_key(base: str) -> str:
    return f"vector.current:{base}"


def target_key(base: str) -> str:
    return f"vector.reindex_target:{base}"


def current_collection(ledger: Ledger, base: str) -> str:
    """The name of the collection now serving ``base``."""
    return ledger.get_state(current_key(base)) or base


def interrupted_reindex(ledger: Ledger, base: str) -> str | None:
    """The collection a reindex was building when its process died, if one was left behind.

    Call it when no reindex is running (the next reindex drops it; doctor reports it).
    """
    name = ledger.get_state(target_key(base)) or ""
    return name if name and name != current_collection(ledger, base) else None


class CurrentIndex:
    """The current collection of ``base``, followed through the ledger's record on each call."""

    def __init__(
        self, ledger: Ledger, base: str, open_collection: OpenCollection, model: str, dimension: int
    ):
        self._ledger = ledger
        self._base = base
        self._open = open_collection
        self._model = model
        self._dimension = dimension
        self._lock = threading.Lock()
        self._index: ChromaIndex | None = None
        self._target: tuple[str, ChromaIndex | None] | None = None

    @property
    def collection_name(self) -> str:
        return current_collection(self._ledger, self._base)

    def current(self) -> ChromaIndex:
        """The open current collection, reopened when another reindex switched it."""
        name = self.collection_name
        with self._lock:
            if self._index is None or self._index.name != name:
                if self._index is not None:
                    self._index.close_local()
                self._index = self._open(name, self._model, self._dimension)
            return self._index

    def _building(self) -> ChromaIndex | None:
        """The collection a reindex is filling, if any and if it uses this process's model."""
        name = self._ledger.get_state(target_key(self._base)) or ""
        if not name or name == self.collection_name:
            return None
        with self._lock:
            if self._target is None or self._target[0] != name:
                try:
                    self._target = (name, self._open(name, self._model, self._dimension))
                except IndexMismatch:
                    self._target = (name, None)
            return self._target[1]

    def _read(self, call: Callable[[ChromaIndex], Any]) -> Any:
        """Run a read on the current collection; once more if a reindex switched it meanwhile."""
        index = self.current()
        try:
            return call(index)
        except Exception:
            if self.collection_name == index.name:
                raise
            return call(self.current())

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        self._read(lambda index: index.upsert(records))
        if records and (target := self._building()) is not None:
            target.upsert(records)

    def delete(self, ids: Sequence[str]) -> None:
        self._read(lambda index: index.delete(ids))
        if ids and (target := self._building()) is not None:
            target.delete(ids)

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
        open_now: bool = True,
    ) -> list[VectorHit]:
        return self._read(lambda index: index.query(vector, k, scope, ids, open_now))

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self._read(lambda index: index.vectors(ids))

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return self._read(lambda index: index.existing_ids(ids))

    def all_ids(self) -> list[str]:
        return self._read(lambda index: index.all_ids())

    def count(self) -> int:
        return self._read(lambda index: index.count())

    def close(self) -> None:
        """Release the backend's client (an HTTP connection pool, an embedded store)."""
        for index in (self._index, self._target[1] if self._target else None):
            if index is not None:
                index.close_local()
        if (close := getattr(self._open, "close", None)) is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        """Any other method of the collection (reads), on the current one."""
        return getattr(self.current(), name)


@dataclass(frozen=True)
class ReindexResult:
    """What a reindex did."""

    old_collection: str
    new_collection: str
    model: str
    dimension: int
    memories: int
    seconds: float


def reindex(
    ledger: Ledger,
    embedder: Embedder,
    base: str,
    open_collection: OpenCollection,
    drop_collection: Callable[[str], object],
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    write_lock: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> ReindexResult:
    """Rebuild ``base``'s vectors from the ledger with ``embedder`` into a new collection.

    ``progress(done, total)`` is called after each batch. The old collection serves until the
    new one is complete; on any failure the new one is dropped and the old one stays current.
    """
    started = time.monotonic()
    old = current_collection(ledger, base)
    if (abandoned := interrupted_reindex(ledger, base)) is not None:
        drop_collection(abandoned)
    new = f"{base}-{uuid.uuid4().hex[:8]}"
    target = open_collection(new, embedder.name, embedder.dimension)
    ledger.set_state(target_key(base), new)
    try:
        ids = ledger.ids(MemoryFilter())
        done = 0
        if progress:
            progress(0, len(ids))
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            with write_lock():
                _embed_into(target, ledger, embedder, chunk)
            done += len(chunk)
            if progress:
                progress(done, len(ids))
        with write_lock():
            _catch_up(target, ledger, embedder, batch_size)
            ledger.set_state(current_key(base), new)
    except BaseException:
        with write_lock():
            ledger.set_state(target_key(base), "")
            drop_collection(new)
        raise
    with write_lock():
        ledger.set_state(target_key(base), "")
        drop_collection(old)
    return ReindexResult(
        old_collection=old,
        new_collection=new,
        model=embedder.name,
        dimension=embedder.dimension,
        memories=target.count(),
        seconds=round(time.monotonic() - started, 3),
    )


def _embed_into(
    target: ChromaIndex, ledger: Ledger, embedder: Embedder, ids: Sequence[str]
) -> None:
    memories = ledger.get_many(ids)
    present = [memories[i] for i in ids if i in memories]
    if not present:
        return
    vectors = embedder.embed([m.content for m in present])
    target.upsert(
        [
            VectorRecord(
                id=m.id,
                vector=v,
                user_id=m.user_id or "",
                agent_id=m.agent_id or "",
                session_id=m.session_id or "",
            )
            for m, v in zip(present, vectors, strict=True)
        ]
    )


def _catch_up(target: ChromaIndex, ledger: Ledger, embedder: Embedder, batch_size: int) -> None:
    """Add what the ledger gained and drop what it lost while the bulk pass ran."""
    ledger_ids = set(ledger.ids(MemoryFilter()))
    vector_ids = set(target.all_ids())
    missing = sorted(ledger_ids - vector_ids)
    for start in range(0, len(missing), batch_size):
        _embed_into(target, ledger, embedder, missing[start : start + batch_size])
    target.delete(sorted(vector_ids - ledger_ids))

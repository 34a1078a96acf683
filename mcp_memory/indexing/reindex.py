"""Which vector index is current, and rebuilding it from the ledger (`mcp-memory reindex`).

The configured ``vector.collection`` is a base name. The index actually serving it is recorded
in a state store every process shares (the ledger's ``state`` table): the base name itself
until a first reindex. A reindex embeds every memory of the ledger (which holds the text) into
a new index ``<base>-<suffix>`` of the engine's catalog (``store.vectors.IndexCatalog``), then
records it as current and drops the old one. Until that switch the old index keeps serving
searches, and ``CurrentIndex`` also writes new and changed memories into the index being built
(when it uses the same model), so nothing added meanwhile is missing from it; a last pass
compares the new index with the ledger before the switch.

``CurrentIndex`` is the ``VectorIndex`` the service holds (behind ``IndexGuard``): it follows the
record on every call, so every process sharing the data dir moves to the new index by itself.
Nothing here knows the engine or the ledger: both come in as the protocols below.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from mcp_memory.embeddings.base import Embedder
from mcp_memory.errors import IndexMismatch
from mcp_memory.store.ledger import MemoryReader, StateStore
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import IndexCatalog, VectorBlock, VectorHit, VectorIndex, VectorRecord

T = TypeVar("T")


class ReindexSource(MemoryReader, StateStore, Protocol):
    """What a reindex reads from the ledger: every memory's id, then the memories themselves,
    and the record of which collection is current."""


def current_key(base: str) -> str:
    return f"vector.current:{base}"


def target_key(base: str) -> str:
    return f"vector.reindex_target:{base}"


def current_collection(state: StateStore, base: str) -> str:
    """The name of the index now serving ``base``."""
    return state.get_state(current_key(base)) or base


def interrupted_reindex(state: StateStore, base: str) -> str | None:
    """The index a reindex was building when its process died, if one was left behind.

    Call it when no reindex is running (the next reindex drops it; doctor reports it).
    """
    name = state.get_state(target_key(base)) or ""
    return name if name and name != current_collection(state, base) else None


class CurrentIndex:
    """The current index of ``base`` in ``catalog``, followed through the record on each call."""

    def __init__(
        self, state: StateStore, base: str, catalog: IndexCatalog, model: str, dimension: int
    ):
        self._state = state
        self._base = base
        self._catalog = catalog
        self._model = model
        self._dimension = dimension
        self._lock = threading.Lock()
        self._index: tuple[str, VectorIndex] | None = None
        self._target: tuple[str, VectorIndex | None] | None = None

    @property
    def name(self) -> str:
        """The name of the index now current (the record, read afresh)."""
        return current_collection(self._state, self._base)

    def current(self) -> VectorIndex:
        """The open current index, reopened when a reindex switched it."""
        return self._current()[1]

    def _current(self) -> tuple[str, VectorIndex]:
        name = self.name
        with self._lock:
            if self._index is None or self._index[0] != name:
                if self._index is not None:
                    self._index[1].close()
                self._index = (name, self._catalog.open(name, self._model, self._dimension))
            return self._index

    def _building(self) -> VectorIndex | None:
        """The index a reindex is filling, if any and if it uses this process's model."""
        name = self._state.get_state(target_key(self._base)) or ""
        if not name or name == self.name:
            return None
        with self._lock:
            if self._target is None or self._target[0] != name:
                try:
                    self._target = (name, self._catalog.open(name, self._model, self._dimension))
                except IndexMismatch:
                    self._target = (name, None)
            return self._target[1]

    def _read(self, call: Callable[[VectorIndex], T]) -> T:
        """Run a call on the current index; once more if a reindex switched it meanwhile."""
        name, index = self._current()
        try:
            return call(index)
        except Exception:
            if self.name == name:
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
    ) -> list[VectorHit]:
        return self._read(lambda index: index.query(vector, k, scope, ids))

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        return self._read(lambda index: index.read_scope(scope, ids))

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self._read(lambda index: index.vectors(ids))

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return self._read(lambda index: index.existing_ids(ids))

    def all_ids(self) -> list[str]:
        return self._read(lambda index: index.all_ids())

    def count(self) -> int:
        return self._read(lambda index: index.count())

    def reset(self) -> None:
        """Close the open indexes and empty the catalog (``IndexCatalog.reset``): its files
        are damaged. The caller refills it from the ledger."""
        with self._lock:
            for held in (self._index, self._target):
                if held is not None and held[1] is not None:
                    with contextlib.suppress(Exception):  # damaged: it is deleted next
                        held[1].close()
            self._index = self._target = None
        self._catalog.reset()

    def close(self) -> None:
        """Close the open indexes, then the catalog's client (an HTTP connection pool, an
        embedded store)."""
        for held in (self._index, self._target):
            if held is not None and held[1] is not None:
                held[1].close()
        self._catalog.close()


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
    ledger: ReindexSource,
    embedder: Embedder,
    base: str,
    catalog: IndexCatalog,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    write_lock: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> ReindexResult:
    """Rebuild ``base``'s vectors from the ledger with ``embedder`` into a new index of
    ``catalog``.

    ``progress(done, total)`` is called after each batch. The old index serves until the new
    one is complete; on any failure the new one is dropped and the old one stays current.
    ``write_lock`` orders the writes with the other processes' (``IndexGuard.writing``).
    """
    started = time.monotonic()
    old = current_collection(ledger, base)
    if (abandoned := interrupted_reindex(ledger, base)) is not None:
        catalog.drop(abandoned)
    new = f"{base}-{uuid.uuid4().hex[:8]}"
    target = catalog.open(new, embedder.name, embedder.dimension)
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
            catalog.drop(new)
        raise
    with write_lock():
        ledger.set_state(target_key(base), "")
        catalog.drop(old)
    return ReindexResult(
        old_collection=old,
        new_collection=new,
        model=embedder.name,
        dimension=embedder.dimension,
        memories=target.count(),
        seconds=round(time.monotonic() - started, 3),
    )


def _embed_into(
    target: VectorIndex, ledger: ReindexSource, embedder: Embedder, ids: Sequence[str]
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


def _catch_up(
    target: VectorIndex, ledger: ReindexSource, embedder: Embedder, batch_size: int
) -> None:
    """Add what the ledger gained and drop what it lost while the bulk pass ran."""
    ledger_ids = set(ledger.ids(MemoryFilter()))
    vector_ids = set(target.all_ids())
    missing = sorted(ledger_ids - vector_ids)
    for start in range(0, len(missing), batch_size):
        _embed_into(target, ledger, embedder, missing[start : start + batch_size])
    target.delete(sorted(vector_ids - ledger_ids))

"""Which vector index is current, and rebuilding it from the ledger (`mcp-memory reindex`).

The configured ``vector.collection`` is a base name. The index actually serving it is recorded
in a state store every process shares (the ledger's ``state`` table) as ``<backend>/<name>``
(``IndexRef``; a record without a backend predates Qdrant: Chroma); without a record, the base
name on the configured backend. A reindex embeds every memory of the ledger (which holds the
text) into a new index ``<base>-<suffix>`` of an engine's catalog (``store.vectors.IndexCatalog``;
the configured engine, or another: ``--vector-backend``), then records it as current and drops
the old one. Servers follow the record, so a reindex also moves a store from one engine to the
other without stopping them. Until that switch the old index keeps serving
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from mcp_memory.embeddings.base import Embedder
from mcp_memory.errors import IndexMismatch
from mcp_memory.store.ledger import MemoryReader, StateStore
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import (
    IndexCatalog,
    Optimizable,
    VectorBlock,
    VectorHit,
    VectorIndex,
    VectorRecord,
    scores_in_place,
    similarities,
)

T = TypeVar("T")


class ReindexSource(MemoryReader, StateStore, Protocol):
    """What a reindex reads from the ledger: every memory's id, then the memories themselves,
    and the record of which collection is current."""


def current_key(base: str) -> str:
    return f"vector.current:{base}"


def target_key(base: str) -> str:
    return f"vector.reindex_target:{base}"


LEGACY_BACKEND = "chroma"


@dataclass(frozen=True)
class IndexRef:
    """An index: the engine (backend) holding it and its name there."""

    backend: str
    name: str

    def __str__(self) -> str:
        return f"{self.backend}/{self.name}"

    @classmethod
    def parse(cls, record: str) -> IndexRef:
        backend, slash, name = record.partition("/")
        return cls(backend, name) if slash else cls(LEGACY_BACKEND, record)


class Catalogs:
    """Each engine's ``IndexCatalog`` by backend name, made on first need by ``make``;
    ``default`` is the configured backend (a store without a record uses it)."""

    def __init__(self, default: str, make: Callable[[str], IndexCatalog]):
        self.default = default
        self._make = make
        self._made: dict[str, IndexCatalog] = {}
        self._lock = threading.Lock()

    def __getitem__(self, backend: str) -> IndexCatalog:
        with self._lock:
            if backend not in self._made:
                self._made[backend] = self._make(backend)
            return self._made[backend]

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, {}
        for catalog in made.values():
            catalog.close()


def current_index(state: StateStore, base: str, default_backend: str) -> IndexRef:
    """The index now serving ``base``."""
    record = state.get_state(current_key(base))
    return IndexRef.parse(record) if record else IndexRef(default_backend, base)


def current_collection(state: StateStore, base: str) -> str:
    """The name of the index now serving ``base`` (on whichever backend)."""
    return current_index(state, base, LEGACY_BACKEND).name


def interrupted_reindex(state: StateStore, base: str) -> IndexRef | None:
    """The index a reindex was building when its process died, if one was left behind.

    Call it when no reindex is running (the next reindex drops it; doctor reports it).
    """
    record = state.get_state(target_key(base)) or ""
    if not record:
        return None
    target = IndexRef.parse(record)
    current = state.get_state(current_key(base))
    return None if current and IndexRef.parse(current) == target else target


class CurrentIndex:
    """The current index of ``base`` among ``catalogs``, followed through the record on each
    call (to another engine too, after a reindex that moved it)."""

    def __init__(
        self, state: StateStore, base: str, catalogs: Catalogs, model: str, dimension: int
    ):
        self._state = state
        self._base = base
        self._catalogs = catalogs
        self._model = model
        self._dimension = dimension
        self._lock = threading.Lock()
        self._index: tuple[IndexRef, VectorIndex] | None = None
        self._target: tuple[IndexRef, VectorIndex | None] | None = None
        self._pin = threading.local()

    @property
    def name(self) -> IndexRef:
        """The index now current: the record, read afresh, or the one this thread pinned."""
        pinned = getattr(self._pin, "ref", None)
        return pinned or current_index(self._state, self._base, self._catalogs.default)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within, this thread's calls use the index current on entry: a search reads the
        record once rather than once a call (on a shared database, each read is a round
        trip). A reindex that switches meanwhile is followed by the next search, or by this
        one if a call fails (``_read``)."""
        if getattr(self._pin, "ref", None) is not None:
            yield
            return
        self._pin.ref = self.name
        try:
            yield
        finally:
            self._pin.ref = None

    def _open(self, ref: IndexRef) -> VectorIndex:
        return self._catalogs[ref.backend].open(ref.name, self._model, self._dimension)

    def current(self) -> VectorIndex:
        """The open current index, reopened when a reindex switched it."""
        return self._current()[1]

    def _current(self) -> tuple[IndexRef, VectorIndex]:
        name = self.name
        with self._lock:
            if self._index is None or self._index[0] != name:
                if self._index is not None:
                    self._index[1].close()
                    self._index = None
                self._index = (name, self._open(name))
            return self._index

    def _building(self) -> VectorIndex | None:
        """The index a reindex is filling, if any and if it uses this process's model."""
        record = self._state.get_state(target_key(self._base)) or ""
        if not record or (name := IndexRef.parse(record)) == self.name:
            return None
        with self._lock:
            if self._target is None or self._target[0] != name:
                if self._target is not None and self._target[1] is not None:
                    self._target[1].close()
                try:
                    self._target = (name, self._open(name))
                except IndexMismatch:
                    self._target = (name, None)
            return self._target[1]

    def _read(self, call: Callable[[VectorIndex], T]) -> T:
        """Run a call on the current index; once more if a reindex switched it meanwhile."""
        name, index = self._current()
        try:
            return call(index)
        except Exception:
            now = current_index(self._state, self._base, self._catalogs.default)
            if now == name:
                raise
            if getattr(self._pin, "ref", None) is not None:
                self._pin.ref = now
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

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        return self._read(lambda index: similarities(index, vector, ids))

    def scores_in_place(self) -> bool:
        """Whether the index behind scores vectors where it stores them (``ScoresInPlace``)."""
        return self._read(scores_in_place)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return self._read(lambda index: index.existing_ids(ids))

    def all_ids(self) -> list[str]:
        return self._read(lambda index: index.all_ids())

    def count(self) -> int:
        return self._read(lambda index: index.count())

    def optimize(self) -> bool:
        return self._read(lambda i: i.optimize() if isinstance(i, Optimizable) else False)

    def unindexed(self) -> int:
        return self._read(lambda i: i.unindexed() if isinstance(i, Optimizable) else 0)

    def reset(self) -> None:
        """Close the open indexes and empty the current index's engine (``IndexCatalog.reset``):
        its files are damaged. The caller refills it from the ledger."""
        backend = self.name.backend
        with self._lock:
            for held in (self._index, self._target):
                if held is not None and held[1] is not None:
                    with contextlib.suppress(Exception):  # damaged: it is deleted next
                        held[1].close()
            self._index = self._target = None
        self._catalogs[backend].reset()

    def close(self) -> None:
        """Close the open indexes, then the catalog's client (an HTTP connection pool, an
        embedded store)."""
        for held in (self._index, self._target):
            if held is not None and held[1] is not None:
                held[1].close()
        self._index = self._target = None
        self._catalogs.close()


@dataclass(frozen=True)
class ReindexResult:
    """What a reindex did."""

    old_collection: str
    new_collection: str
    model: str
    dimension: int
    memories: int
    seconds: float
    old_backend: str = LEGACY_BACKEND
    new_backend: str = LEGACY_BACKEND


def reindex(
    ledger: ReindexSource,
    embedder: Embedder,
    base: str,
    catalogs: Catalogs,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
    write_lock: Callable[[], AbstractContextManager[object]] = nullcontext,
    backend: str | None = None,
) -> ReindexResult:
    """Rebuild ``base``'s vectors from the ledger with ``embedder`` into a new index on
    ``backend`` (default: the configured one, ``catalogs.default``).

    ``progress(done, total)`` is called after each batch. The old index serves until the new
    one is complete (an engine that builds its search graphs on request does so then,
    ``Optimizable``); on any failure the new one is dropped and the old one stays current.
    ``write_lock`` orders the writes with the other processes' (``IndexGuard.writing``).
    """
    started = time.monotonic()
    old = current_index(ledger, base, catalogs.default)
    if (abandoned := interrupted_reindex(ledger, base)) is not None:
        catalogs[abandoned.backend].drop(abandoned.name)
    new = IndexRef(backend or catalogs.default, f"{base}-{uuid.uuid4().hex[:8]}")
    target = catalogs[new.backend].open(new.name, embedder.name, embedder.dimension)
    try:
        ledger.set_state(target_key(base), str(new))
        try:
            _fill(target, ledger, embedder, batch_size, progress, write_lock)
            with write_lock():
                _catch_up(target, ledger, embedder, batch_size)
                ledger.set_state(current_key(base), str(new))
        except BaseException:
            with write_lock():
                ledger.set_state(target_key(base), "")
                target.close()
                catalogs[new.backend].drop(new.name)
            raise
        memories = target.count()
    finally:
        target.close()
    with write_lock():
        ledger.set_state(target_key(base), "")
        catalogs[old.backend].drop(old.name)
    return ReindexResult(
        old_collection=old.name,
        new_collection=new.name,
        model=embedder.name,
        dimension=embedder.dimension,
        memories=memories,
        seconds=round(time.monotonic() - started, 3),
        old_backend=old.backend,
        new_backend=new.backend,
    )


def _fill(
    target: VectorIndex,
    ledger: ReindexSource,
    embedder: Embedder,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    write_lock: Callable[[], AbstractContextManager[object]],
) -> None:
    """Embed every memory of the ledger into ``target``, batch by batch, then let it build its
    search graphs (outside the write lock: the other processes keep writing meanwhile)."""
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
    if isinstance(target, Optimizable):
        target.optimize()


def _embed_into(
    target: VectorIndex, ledger: ReindexSource, embedder: Embedder, ids: Sequence[str]
) -> None:
    memories = ledger.get_many(ids)
    present = [memories[i] for i in ids if i in memories]
    if not present:
        return
    vectors = embedder.embed([m.content for m in present])
    target.upsert([VectorRecord.of(m, v) for m, v in zip(present, vectors, strict=True)])


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

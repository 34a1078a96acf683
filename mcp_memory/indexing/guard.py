"""Keeps one process's vector-index handle fresh, and its index writes ordered, across processes.

Several ``mcp-memory serve`` processes (one per client app) may open one data directory. The
ledger copes by itself (SQLite in WAL mode). Chroma's embedded client does not: measured with
Chroma 1.5, a process that holds a ``PersistentClient`` open keeps answering queries from the
HNSW graph it loaded, so vectors another process adds are missing from its results (and ones it
deletes still come back, and a query restricted to an id it has not seen fails) until it reopens
the client; its ``count()`` does see them, because that reads SQLite.

The mechanism here:

- **A change counter in the ledger** (``index_generation``): every process bumps it after it
  changes the vector index. Before using the index, a process compares the counter with the
  value it last saw (one indexed SQLite read, a few microseconds); when another process has
  written meanwhile, it closes and reopens its Chroma client, which reloads the index from disk
  (tens of milliseconds, and only after a foreign write). A warm single-process search never
  reopens anything.
- **A write lock** (``flock`` on ``index.lock`` in the data directory, plus a thread lock):
  one writer at a time across processes, holding it for the whole "read the ledger, write the
  vectors, clear the queue" step, so two processes never interleave their changes to one
  memory's vector nor write Chroma's files at once.
- **A reader-writer lock** inside the process: any number of threads use the handle at once;
  reopening it (done under the write lock, so no process writes the files meanwhile) waits
  until none does.

**Damaged files mend themselves.** When the engine reports its files damaged (``IndexDamaged``:
Chroma's SQLite file malformed, an HNSW graph that does not load), the guard, under the write
lock, first looks again if another process changed the index meanwhile (it may have rebuilt it);
otherwise it queues every memory in the ledger's outbox (``on_reset``), empties the engine
(``reset``), bumps the counter so the other processes reopen, and retries the call once. The
outbox then refills the index as it does after any crash (``IndexSync.sync_index``), and a
rebuild cut short resumes where it stopped. ``heals = False`` (``doctor`` without ``--repair``)
reports the damage instead.

Embedded Qdrant goes further on its own: a process holds its shard only in its turn and loads
it afresh each time (``vectors/qdrant/turns.py``), so it is never stale; the counter and the
write lock apply to it all the same.

A store shared by several hosts (PostgreSQL) brings its own write lock and needs no reopening
(``Sharing``): the index lives in the database or a server, not in a process's memory.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mcp_memory.errors import IndexDamaged
from mcp_memory.store.vectors import (
    Optimizable,
    VectorBlock,
    VectorHit,
    VectorIndex,
    VectorRecord,
    scores_in_place,
    similarities,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the thread lock alone (one process per store)
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _SharedLock:
    """A reader-writer lock whose shared side a thread may re-enter while it holds it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._mine = threading.local()

    def held(self) -> bool:
        return getattr(self._mine, "depth", 0) > 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        if self.held():
            self._mine.depth += 1
            try:
                yield
            finally:
                self._mine.depth -= 1
            return
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._readers += 1
        self._mine.depth = 1
        try:
            yield
        finally:
            self._mine.depth = 0
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writer)
            self._writer = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class Sharing:
    """How the processes sharing a store order their index writes and see each other's.

    ``lock`` is the cross-process write lock (None: a file lock in the data dir, which orders
    the processes of one host); ``reopen`` whether a process must reopen its handle after
    another one wrote (embedded Chroma answers from the graph it loaded; a server or a
    database answers from the shared state)."""

    lock: Callable[[], AbstractContextManager[object]] | None = None
    reopen: bool = True


class IndexGuard:
    """A ``VectorIndex`` that refreshes itself after other processes' writes and orders writes.

    ``generation`` reads the shared change counter and ``bump`` increments it and returns the
    new value; ``lock_path`` is the file locked around writes (None: this process only), or
    ``lock`` the cross-process lock itself; ``on_reset`` queues every memory for the index
    again (None: damage is not mended here).
    """

    def __init__(
        self,
        open_index: Callable[[], VectorIndex],
        generation: Callable[[], int],
        bump: Callable[[], int],
        lock_path: Path | None = None,
        on_reset: Callable[[], object] | None = None,
        lock: Callable[[], AbstractContextManager[object]] | None = None,
    ):
        self._open = open_index
        self._generation = generation
        self._bump = bump
        self._lock_path = lock_path
        self._lock = lock
        self._index: VectorIndex | None = None
        self._seen = -1
        self._rw = _SharedLock()
        self._writer = threading.RLock()
        self._write_depth = 0
        self._wrote = False
        self._lock_file: Any = None
        self._deferred = False
        self._on_reset = on_reset
        self._healing = threading.local()
        self.heals = on_reset is not None
        self.reopened = 0
        self.rebuilt = 0

    # -- the handle --------------------------------------------------------------------------

    def opened(self) -> VectorIndex:
        """The index this process holds now, opened (or reopened after another process's
        write) if need be: a look at the engine beneath. Reads and writes go through the guard,
        which holds its locks around them."""
        with self._using() as index:
            return index

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Within, this thread's reads use the index current on entry, if the index follows a
        record of which one is current (``CurrentIndex.pinned``): one read of it a search.
        Pins the handle already open only (opening one here would bypass ``_call``'s mending)."""
        pin = getattr(self._index, "pinned", None)
        with pin() if pin is not None else contextlib.nullcontext():
            yield

    @property
    def is_open(self) -> bool:
        """Whether this process has opened the index (a look that opens nothing)."""
        return self._index is not None

    def defer_open(self, deferred: bool = True) -> None:
        """Until called again with False, ask the engine not to load itself on a search: an
        engine slow to open (Chroma loading its HNSW graph) answers a search over everything
        from a cheaper exact path meanwhile (Chroma: a scan of its scoped copy). The factory
        hands ``open_deferred`` to the engine, which reads it when it searches."""
        self._deferred = deferred

    @property
    def open_deferred(self) -> bool:
        return self._deferred

    def _refresh(self) -> None:
        """Open the index, or reopen it if another process changed it since we last looked.

        Called with the write lock held, so no process writes Chroma's files meanwhile.
        """
        current = self._generation()
        if self._index is not None and current == self._seen:
            return
        with self._rw.exclusive():
            if self._index is not None:
                self._index.close()
                self.reopened += 1
                logger.debug("vector index changed by another process: reopened")
            self._index = self._open()
            self._seen = current

    @contextlib.contextmanager
    def _using(self) -> Iterator[VectorIndex]:
        if not self._rw.held() and (self._index is None or self._generation() != self._seen):
            with self._locked():
                self._refresh()
        with self._rw.shared():
            assert self._index is not None
            yield self._index

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The thread lock and, outermost, the cross-process file lock (re-entrant)."""
        with self._writer:
            self._write_depth += 1
            try:
                if self._write_depth == 1:
                    with self._file_lock():
                        yield
                else:
                    yield
            finally:
                self._write_depth -= 1

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the cross-process write lock (re-entrant) around a multi-step index change."""
        with self._locked():
            outer = self._write_depth == 1
            if outer:
                self._refresh()
                self._wrote = False
            try:
                yield
            finally:
                if outer and self._wrote:
                    self._seen = self._bump()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._lock is not None:
            with self._lock():
                yield
            return
        if self._lock_path is None or fcntl is None:
            yield
            return
        if self._lock_file is None:
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self._lock_path, "a+b")  # noqa: SIM115 - held for the process
        fd = self._lock_file.fileno()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the index and the lock file, after any write in progress (a writer still
        holding the file lock would otherwise unlock a closed file)."""
        with self._writer, self._rw.exclusive():
            if self._index is not None:
                self._index.close()
            self._index = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # -- damaged files ------------------------------------------------------------------------

    def _call(self, use: Callable[[VectorIndex], T], write: bool = False) -> T:
        """``use`` the index (holding the write lock if ``write``); when the engine reports its
        files damaged, rebuild it (``_rebuild``) and try once more."""
        try:
            return self._run(use, write)
        except IndexDamaged as damage:
            if not self._may_rebuild():
                raise
            self._rebuild(damage)
        return self._run(use, write)

    def _run(self, use: Callable[[VectorIndex], T], write: bool) -> T:
        if not write:
            with self._using() as index:
                return use(index)
        with self.writing(), self._using() as index:
            self._wrote = True
            return use(index)

    def _may_rebuild(self) -> bool:
        """Not while this thread uses the handle (it cannot be replaced under it), nor inside a
        rebuild, nor when told not to (doctor without --repair)."""
        return self.heals and not self._rw.held() and not getattr(self._healing, "active", False)

    def _rebuild(self, damage: IndexDamaged) -> None:
        """Empty the damaged engine and queue every memory to refill it (module docstring)."""
        assert self._on_reset is not None
        with self._locked():
            if self._index is not None and self._generation() != self._seen:
                self._refresh()  # another process changed (perhaps rebuilt) it: look again
                return
            reset = getattr(self._index, "reset", None)
            if reset is None:
                raise damage
            logger.warning("%s; rebuilding it now", damage)
            self._healing.active = True
            try:
                self._on_reset()  # first: a crash before the reset leaves the work queued
                with self._rw.exclusive():
                    reset()
                self._seen = self._bump()
                self.rebuilt += 1
            finally:
                self._healing.active = False

    # -- the VectorIndex protocol ------------------------------------------------------------

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        if records:
            self._call(lambda index: index.upsert(records), write=True)

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call(lambda index: index.delete(ids), write=True)

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        return self._call(lambda index: index.query(vector, k, scope=scope, ids=ids))

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        return self._call(lambda index: index.read_scope(scope, ids))

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return self._call(lambda index: index.vectors(ids))

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        return self._call(lambda index: similarities(index, vector, ids))

    def scores_in_place(self) -> bool:
        """Whether the index behind scores vectors where it stores them (``ScoresInPlace``)."""
        return self._call(scores_in_place)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return self._call(lambda index: index.existing_ids(ids))

    def all_ids(self) -> list[str]:
        return self._call(lambda index: index.all_ids())

    def count(self) -> int:
        return self._call(lambda index: index.count())

    def optimize(self) -> bool:
        """Have the engine build its search graphs, if it builds them only when asked
        (``Optimizable``); False for one that keeps them built (Chroma)."""
        return self._call(lambda i: i.optimize() if isinstance(i, Optimizable) else False)

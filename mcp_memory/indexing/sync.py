"""Keeps the vector index in line with the ledger: the outbox, its write-behind, reconciliation
and repair.

The ledger is the truth and the vector index is derived from it. Every write queues an outbox
entry in the same transaction as the row (``pending_index``); this module applies the entries
to the index and clears them: at once (``write``), a little later on a background thread for
an add (``write_behind.py``), before a search, or at start-up for what a crash left
(``reconcile``). ``index_report`` and ``repair_index`` compare and mend the two stores id by id.

Two locks order the writes: the sync lock (a thread lock: one applier of the outbox at a time
in this process) and the index write lock (``IndexGuard.writing``: one writer across the
processes sharing the data dir), always taken in that order (see ``writing``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mcp_memory.embeddings.base import Embedder
from mcp_memory.errors import StorageFull
from mcp_memory.indexing.guard import IndexGuard, Sharing
from mcp_memory.indexing.write_behind import WriteBehind, log_failed_write
from mcp_memory.models import IndexReport
from mcp_memory.store.ledger import KeywordIndex, MemoryReader, Outbox, StateStore
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import VectorIndex, VectorRecord

logger = logging.getLogger(__name__)

INDEX_GENERATION = "index_generation"
INDEX_LOCK_FILE = "index.lock"
# Up to this many memories, start-up reconciliation compares every id and runs FTS5's integrity
# check (~0.16 s at 10k, holding the ledger's connection for part of it: the first searches
# wait); above, it compares counts (a few ms), and the full checks run only if they differ.
FULL_CHECK_MAX = 5_000


class OutboxLedger(Outbox, MemoryReader, KeywordIndex, StateStore, Protocol):
    """What syncing needs of the ledger: the outbox, the rows it names, the index generation
    counter, and the checks of the derived indexes (the vector index here, the keyword index
    inside the ledger)."""


def guarded_index(
    open_index: Callable[[], VectorIndex],
    ledger: OutboxLedger,
    data_dir: Path | None,
    sharing: Sharing | None = None,
) -> IndexGuard:
    """The vector index, opened on first use and kept fresh across the processes sharing
    ``data_dir`` through the ledger's change counter (guard.py); or as ``sharing`` says."""
    sharing = sharing or Sharing()
    if not sharing.reopen:
        return IndexGuard(
            open_index, lambda: 0, lambda: 0, on_reset=ledger.requeue_all, lock=sharing.lock
        )
    return IndexGuard(
        open_index,
        generation=lambda: ledger.counter(INDEX_GENERATION),
        bump=lambda: ledger.bump_counter(INDEX_GENERATION),
        lock_path=data_dir / INDEX_LOCK_FILE if data_dir and sharing.lock is None else None,
        on_reset=ledger.requeue_all,
        lock=sharing.lock,
    )


def while_loading(embedder: Embedder, work: Callable[[], object]) -> None:
    """Load the model and, meanwhile, run ``work`` (start-up reconciliation): the two overlap,
    as much of each runs outside the GIL (ONNX Runtime's session, Chroma's Rust core). A
    failure to load is raised here, in the caller's thread, once ``work`` is done."""
    failed: list[BaseException] = []

    def load() -> None:
        try:
            embedder.embed_query("warm up")
        except BaseException as exc:  # re-raised below, in the caller's thread
            failed.append(exc)

    model = threading.Thread(target=load, name="model-load", daemon=True)
    model.start()
    try:
        work()
    finally:
        model.join()
    if failed:
        raise failed[0]


class IndexSync:
    """Applies the ledger's outbox to the vector index, and reconciles or repairs the two."""

    def __init__(
        self,
        ledger: OutboxLedger,
        embedder: Embedder,
        index: IndexGuard,
        quiet_s: float = 0.0,
        max_delay_s: float = 0.0,
    ):
        self.ledger = ledger
        self.embedder = embedder
        self.index = index
        # The sync lock: held while the outbox is applied (see ``writing`` for the order).
        self.lock = threading.RLock()
        self.write_behind = WriteBehind(self.write_handed_over, quiet_s, max_delay_s)
        # What was queued before this process wrote anything: an interrupted run's leftovers.
        self.left_queued = ledger.count_pending()

    def hand_over(self, memory_id: str, text: str, vector: np.ndarray) -> None:
        """Leave the vector of a memory whose outbox entry is committed to the background
        writer; returns at once (write_behind.py)."""
        self.write_behind.hand_over(memory_id, text, vector)

    def close(self) -> None:
        """Finish the queued vector writes (what fails stays in the outbox), close the index."""
        self.write_behind.close()
        self.flush(quietly=True)
        self.index.close()

    def flush(self, quietly: bool = False) -> None:
        """Wait until the vector writes that ``add`` left to the background thread have reached
        the index (write_behind.py). What a crash left queued is not touched here: start-up
        reconciliation and search apply it. ``quietly`` logs a failed write instead of
        raising; it stays queued either way."""
        if not self.write_behind.holding():
            return
        try:
            self.sync_index()
        except Exception as exc:
            if not quietly:
                raise
            log_failed_write(exc)

    def before_search(self) -> None:
        """What a search applies first: this process's adds (so it finds what was just added),
        then any queue left by a crash, unless another thread is applying it (a rebuild is
        not waited for). On a full disk it searches what is indexed; the rest stays queued."""
        try:
            self.flush()
            if self.ledger.count_pending():
                self.sync_index(wait=False)
        except StorageFull as exc:
            logger.warning("searching without the queued index writes: %s", exc)

    def write_handed_over(self) -> None:
        """The write-behind thread's work: the queue, if vectors handed over by ``add`` are
        still unwritten once it holds the lock (a search or flush may have written them)."""
        with self.lock:
            if self.write_behind.holding():
                self.sync_index()

    def reconcile(self) -> dict[str, Any]:
        """Finish or undo what a crash left half done; cheap when nothing is wrong.

        Applies the queued index changes, then compares the vector index with the ledger: id by
        id for a store of up to ``FULL_CHECK_MAX`` memories, by count alone above that (the full
        scan then runs only when the counts differ); repairs what differs, and rebuilds the
        keyword index if its check fails (FTS5's integrity check up to ``FULL_CHECK_MAX``
        memories, the indexed-document count above). Returns what it did.
        """
        done: dict[str, Any] = {"applied": self.sync_index(), "repaired": None}
        with self.writing():
            memories = self.ledger.count(MemoryFilter())
            if memories <= FULL_CHECK_MAX or memories != self.index.count():
                before = self.index_report()
                if before.missing or before.orphans:
                    # Queued entries are not damage: a concurrent write may have queued one.
                    queued = {mid for mid, _ in self.ledger.pending_index()}
                    missing = [mid for mid in before.missing if mid not in queued]
                    orphans = [mid for mid in before.orphans if mid not in queued]
                    self.repair_index()
                    if missing or orphans:
                        done["repaired"] = {"missing": len(missing), "orphans": len(orphans)}
        done["keyword_index_rebuilt"] = not self.ledger.keyword_index_ok(
            full=memories <= FULL_CHECK_MAX
        )
        if done["keyword_index_rebuilt"]:
            self.ledger.rebuild_keyword_index()
        # Entries this process queued itself (adds before the index opened) are normal use.
        left, self.left_queued = self.left_queued, 0
        if left or done["repaired"] or done["keyword_index_rebuilt"]:
            logger.warning(
                "start-up reconciled the stores after an interruption: %s",
                {**done, "left_queued": left},
            )
        return done

    def sync_index(self, batch: int = 256, wait: bool = True) -> int:
        """Apply every queued index change (an add's write-behind, or what a crash or a failed
        write left); returns how many. Vectors an add handed over are used, not re-computed.
        ``wait=False`` returns at once (0) if another thread is applying the queue: a rebuild
        of the whole index (minutes for a large store) is not waited for."""
        if not self.lock.acquire(blocking=wait):
            return 0
        done = 0
        try:
            while entries := self.ledger.pending_index(limit=batch):
                ids = [mid for mid, _ in entries]
                vectors, sources = self.write_behind.take(ids)
                self.apply(entries, vectors, sources)
                self.write_behind.written(ids)
                done += len(entries)
        finally:
            self.lock.release()
        return done

    def index_report(self) -> IndexReport:
        """Compare every ledger id with every vector id (a full scan: for doctor, not hot paths)."""
        self.flush(quietly=True)
        with self.writing():
            ledger_ids = set(self.ledger.ids(MemoryFilter()))
            vector_ids = set(self.index.all_ids())
        return IndexReport(
            memories=len(ledger_ids),
            vectors=len(vector_ids),
            pending=self.ledger.count_pending(),
            missing=sorted(ledger_ids - vector_ids),
            orphans=sorted(vector_ids - ledger_ids),
        )

    def repair_index(self) -> IndexReport:
        """Apply queued changes, embed missing memories, drop orphan vectors; report the result."""
        with self.writing():
            self.sync_index()
            report = self.index_report()
            for start in range(0, len(report.missing), 256):
                chunk = report.missing[start : start + 256]
                self.apply([(mid, "upsert") for mid in chunk])
            self.index.delete(report.orphans)
            return self.index_report()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """The index write lock, taken after the sync lock. ``sync_index`` holds the sync lock
        when it writes the index, so every path takes the two in this order and none can hold
        one while waiting for the other."""
        with self.lock, self.index.writing():
            yield

    def apply(
        self,
        entries: Sequence[tuple[str, str]],
        vectors: dict[str, np.ndarray] | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        """Bring the index in line with the ledger for these queue entries, then clear them.

        Holds the index write lock throughout, so another process's change to the same memory
        is applied wholly before or wholly after this one. ``sources`` names the text each
        given vector was embedded from: if another writer has replaced that text meanwhile,
        the vector is stale and the current text is embedded instead.
        """
        with self.writing():
            self._apply_locked(entries, vectors, sources or {})

    def _apply_locked(
        self,
        entries: Sequence[tuple[str, str]],
        vectors: dict[str, np.ndarray] | None,
        sources: dict[str, str],
    ) -> None:
        vectors = dict(vectors or {})
        upserts = [mid for mid, op in entries if op == "upsert"]
        deletes = [mid for mid, op in entries if op == "delete"]
        memories = self.ledger.get_many(upserts)
        for mid, text in sources.items():
            if mid in memories and memories[mid].content != text:
                vectors.pop(mid, None)
        gone = [mid for mid in upserts if mid not in memories]
        missing = [mid for mid in upserts if mid in memories and mid not in vectors]
        if missing:
            embedded = self.embedder.embed([memories[mid].content for mid in missing])
            vectors.update(zip(missing, embedded, strict=True))
        records = [
            VectorRecord.of(memories[mid], vectors[mid]) for mid in upserts if mid in memories
        ]
        self.index.upsert(records)
        self.index.delete(deletes + gone)
        self.ledger.mark_indexed(entries)

    def write(
        self,
        entries: Sequence[tuple[str, str]],
        vectors: dict[str, np.ndarray] | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        """Apply index changes now; on failure they stay queued for ``sync_index``."""
        try:
            self.apply(entries, vectors, sources)
        except Exception as exc:
            log_failed_write(exc)

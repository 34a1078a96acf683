"""Vector writes of ``add_memory`` finished on a background thread, so an add answers sooner.

A Chroma upsert of one vector takes about as long as encoding its text (~12 ms here), and
nothing about the memory depends on it once the ledger holds the row and its outbox entry: the
ledger is the truth and the vector index is derived from it. So ``add`` commits the row and the
outbox entry, hands the vector it already computed to this writer and returns; the writer
applies the outbox shortly after. Whatever reads the index first waits for it (``flush``), so a
search right after an add still finds the memory; a crash before the write leaves the outbox
entry, which start-up reconciliation applies (re-embedding the text).

"Shortly after" waits for a pause in the hand-overs (``quiet_s``, at most ``max_delay_s`` after
the first): Chroma's upsert holds the GIL for all of its 10-50 ms at 100k memories, so written
between two adds of a burst it stalled the next one (adds back to back took 20-31 ms instead of
about 10). After the burst, the held vectors go in one write.

A write that fails (a full disk, a store that cannot be opened) leaves its entries in the
outbox, and the writer tries again by itself, after 1 s, then 2, 4... up to ``RETRY_MAX_S``,
until it succeeds: when space returns, the index catches up without waiting for another call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from mcp_memory.errors import MemoryServiceError

logger = logging.getLogger(__name__)

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0


class WriteBehind:
    """Vectors computed but not yet written, and the thread that writes them.

    ``apply`` writes the queued outbox entries, taking vectors from ``take`` where it has
    them, if any handed-over vector is still unwritten.
    """

    def __init__(self, apply: Callable[[], int], quiet_s: float = 0.0, max_delay_s: float = 0.0):
        self._apply = apply
        self._quiet_s = quiet_s
        self._max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._vectors: dict[str, tuple[str, np.ndarray]] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def hand_over(self, memory_id: str, text: str, vector: np.ndarray) -> None:
        """Queue a vector for a memory whose outbox entry is committed; returns at once."""
        with self._lock:
            self._vectors[memory_id] = (text, vector)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="index-write-behind", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def holding(self) -> bool:
        """Whether any handed-over vector is still to be written."""
        with self._lock:
            return bool(self._vectors)

    def take(self, ids: list[str]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
        """The held vectors of these ids, and the texts they were computed from."""
        with self._lock:
            held = {i: self._vectors[i] for i in ids if i in self._vectors}
        return {i: v for i, (_, v) in held.items()}, {i: t for i, (t, _) in held.items()}

    def written(self, ids: list[str]) -> None:
        """Forget the vectors of entries that reached the index."""
        with self._lock:
            for memory_id in ids:
                self._vectors.pop(memory_id, None)

    def close(self) -> None:
        """Stop the thread after its current write; what is left stays in the outbox."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        retry: float | None = None  # seconds until the next try after a failure
        while True:
            if self._wake.wait(retry):
                self._wake.clear()
                self._wait_for_a_pause()
            if self._closed:
                return
            try:
                self._apply()
                retry = None
            except Exception as exc:
                retry = min(2 * retry, RETRY_MAX_S) if retry else RETRY_FIRST_S
                log_failed_write(exc, f"retried in {retry:.0f} s")
            if not self.holding():
                retry = None

    def _wait_for_a_pause(self) -> None:
        """Until no hand-over has come for ``quiet_s``, ``max_delay_s`` have passed, or close."""
        deadline = time.monotonic() + self._max_delay_s
        while not self._closed:
            left = deadline - time.monotonic()
            if left <= 0 or not self._wake.wait(min(self._quiet_s, left)):
                return
            self._wake.clear()


def log_failed_write(exc: BaseException, then: str = "retried later") -> None:
    """Log a vector write that failed and stays queued: one line for a condition the message
    explains (a full disk), the traceback for anything else."""
    if isinstance(exc, MemoryServiceError):
        logger.warning("vector index update failed, it stays queued (%s): %s", then, exc)
    else:
        logger.error("vector index update failed, it stays queued (%s)", then, exc_info=exc)

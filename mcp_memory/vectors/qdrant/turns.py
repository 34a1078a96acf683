"""Processes taking turns at a resource only one of them may hold open: Qdrant Edge's shard.

Qdrant Edge opens a shard for one handle at a time: its write-ahead log takes an exclusive file
lock, so a second ``EdgeShard.load`` of the same directory fails (``WouldBlock``), in this
process or another; and a shard opened without the log by two handles corrupts the first's
files (measured with qdrant-edge-py 0.9: its next flush fails on a shortened journal). Yet
several processes share a data directory: one ``mcp-memory serve`` per client app, the CLI
(a reindex while the servers serve), the tests' crash workers.

So each process holds the shard in turns, and keeps it between calls (loading it costs a
fraction of a second at 10k vectors) until another process asks for it:

- **the turn**: an exclusive ``flock`` on ``<name>.turn``, held for as long as the shard is open
  here; the kernel drops it if the process dies, so a killed holder never blocks the others.
- **the queue**: a process that waits for its turn holds a shared ``flock`` on ``<name>.queue``
  while it waits. The holder looks (a non-blocking exclusive attempt: a system call, no I/O)
  when a call on the shard ends, and every ``POLL_S`` on a watcher thread while idle; if
  anyone waits it closes the shard and gives up its turn.

Within the process, ``Turns.use`` counts the threads using the resource: it is never given up
under one of them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from mcp_memory.errors import StoreUnavailable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per data dir, thread locks only
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

T = TypeVar("T")
POLL_S = 0.1


class Turns(Generic[T]):
    """One process at a time holds ``open()``'s result; the others wait their turn.

    ``load`` opens the resource once the turn is ours; ``unload`` closes it before the turn
    passes on. A process that waits longer than ``timeout_s`` gets ``StoreUnavailable``.
    """

    def __init__(
        self,
        lock_path: Path,
        load: Callable[[], T],
        unload: Callable[[T], None],
        timeout_s: float = 600.0,
    ):
        self._load, self._unload = load, unload
        self._timeout_s = timeout_s
        self._path = lock_path
        self._lock = threading.Condition(threading.RLock())
        self._users = 0
        self._held: T | None = None
        self._stop = threading.Event()
        self._files: tuple[Any, Any] | None = None
        self.taken = 0

    @contextlib.contextmanager
    def use(self) -> Iterator[T]:
        """The resource, taken (waiting for our turn) if another process had it."""
        with self._lock:
            if self._held is None:
                self._held = self._take()
            self._users += 1
            held = self._held
        try:
            yield held
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._lock.notify_all()
                    if self._wanted():
                        self._give_up()

    def alone(self, action: Callable[[], None]) -> None:
        """Run ``action`` holding the turn with the resource closed (deleting its files): after
        the threads using it here are done, and once the other processes gave it up."""
        with self._lock:
            self._lock.wait_for(lambda: self._users == 0)
            if self._held is not None:
                held, self._held = self._held, None
                self._stop.set()
                self._unload(held)
            elif fcntl is not None:
                self._wait_for_turn()
            try:
                action()
            finally:
                self._unlock_turn()

    @property
    def holding(self) -> bool:
        return self._held is not None

    def close(self) -> None:
        """Close the resource and give up the turn (waits for the threads using it)."""
        with self._lock:
            self._lock.wait_for(lambda: self._users == 0)
            if self._held is not None:
                self._give_up()
            if self._files is not None:
                for file in self._files:
                    file.close()
                self._files = None

    def _lock_files(self) -> tuple[Any, Any]:
        if self._files is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            turn = open(f"{self._path}.turn", "a+b")  # noqa: SIM115 - kept open
            queue = open(f"{self._path}.queue", "a+b")  # noqa: SIM115 - kept open
            self._files = (turn, queue)
        return self._files

    def _take(self) -> T:
        if fcntl is not None:
            self._wait_for_turn()
        try:
            held = self._load()
        except BaseException:
            self._unlock_turn()
            raise
        self.taken += 1
        self._stop = threading.Event()
        threading.Thread(
            target=self._watch, args=(self._stop,), name="qdrant-turns", daemon=True
        ).start()
        return held

    def _wait_for_turn(self) -> None:
        turn, queue = self._lock_files()
        if _try_lock(turn):
            return
        fcntl.flock(queue.fileno(), fcntl.LOCK_SH)  # in the queue: the holder will give up
        try:
            deadline = time.monotonic() + self._timeout_s
            delay = 0.001
            while not _try_lock(turn):
                if time.monotonic() > deadline:
                    raise StoreUnavailable(
                        f"another process has held the embedded Qdrant index "
                        f"{self._path.name!r} for over {self._timeout_s:.0f} s: stop it, or use "
                        '[vector] mode = "server" for several busy processes'
                    )
                time.sleep(delay)  # the holder gives up between its calls; no event to wait on
                delay = min(delay * 2, 0.05)
        finally:
            fcntl.flock(queue.fileno(), fcntl.LOCK_UN)

    def _wanted(self) -> bool:
        """Whether another process waits for its turn (holds the queue lock)."""
        if fcntl is None or self._files is None:
            return False
        queue = self._files[1]
        if _try_lock(queue):
            fcntl.flock(queue.fileno(), fcntl.LOCK_UN)
            return False
        return True

    def _give_up(self) -> None:
        held, self._held = self._held, None
        self._stop.set()
        try:
            if held is not None:
                self._unload(held)
        finally:
            self._unlock_turn()

    def _unlock_turn(self) -> None:
        if fcntl is not None and self._files is not None:
            fcntl.flock(self._files[0].fileno(), fcntl.LOCK_UN)

    def _watch(self, stop: threading.Event) -> None:
        """While the resource is held and idle, give it up as soon as someone waits."""
        while not stop.wait(POLL_S):
            with self._lock:
                if stop.is_set():
                    return
                if self._users == 0 and self._wanted():
                    logger.debug("another process waits for %s: giving it up", self._path.name)
                    self._give_up()
                    return


def _try_lock(file: Any) -> bool:
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True

"""The SQLite ledger: the source of truth for every memory, its history and the index queue.

This package is the only code that writes SQL, one module per idea, each a part of ``Ledger``
over one shared connection (``connection``): the schema (``migrations``), a memory as a row
(``rows``), filters rendered as SQL (``filters``), writing memories (``memories``) and reading
them (``reads``), the index outbox (``outbox``), the keyword index (``keywords``), sessions
(``sessions``), the lifecycle journal (``journal``), shared state (``state``) and the file's
integrity check (``integrity``). Each part
implements the protocol of the same name in ``mcp_memory.store.ledger`` (``Ledger``, all of
them: ``LedgerStore``); another engine implements the same protocols.
The statements keep to what a second dialect (PostgreSQL) can follow; the SQLite-specific
parts are the FTS5 keyword index and ``json_extract`` for metadata filters.

Durability: WAL mode, a busy timeout so several processes can share the file, and one
transaction per logical write. Every write that must reach the vector index also records an
entry in ``index_queue`` in the same transaction (an outbox): if the process dies before the
vector store is updated, start-up finds the entry and finishes the job, so the index never
silently drifts from the ledger.
"""

from __future__ import annotations

from pathlib import Path

from mcp_memory.ledger.integrity import Integrity
from mcp_memory.ledger.journal import Journal
from mcp_memory.ledger.keywords import KeywordIndex
from mcp_memory.ledger.memories import MemoryWriter
from mcp_memory.ledger.migrations import Schema
from mcp_memory.ledger.outbox import Outbox
from mcp_memory.ledger.reads import MemoryReader
from mcp_memory.ledger.sessions import SessionStore
from mcp_memory.ledger.state import StateStore
from mcp_memory.lru import Bounded
from mcp_memory.store.disk import Reserve

__all__ = ["Ledger"]


class Ledger(
    Schema,
    MemoryWriter,
    MemoryReader,
    Outbox,
    KeywordIndex,
    StateStore,
    SessionStore,
    Journal,
    Integrity,
):
    """SQLite access: one connection, serialised by a lock, shared by the service's threads.

    Opening a ledger creates its file if needed and brings its schema up to date; ``reserve``
    is the free space writes leave on its disk (``store.disk``). A file this call created is
    removed again if its schema could not be written (a full disk), so that it is not taken
    for a truncated ledger next time."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000, reserve: Reserve | None = None):
        created = not path.exists()
        super().__init__(path, busy_timeout_ms, reserve)
        self._members = Bounded(capacity=4096)
        self._term_counts = Bounded(capacity=4096)
        try:
            self.migrate()
        except BaseException:
            self.close()
            if created:
                for leftover in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
                    leftover.unlink(missing_ok=True)
            raise

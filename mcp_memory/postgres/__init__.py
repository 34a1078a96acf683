"""PostgreSQL as the shared store: the ledger (``PostgresLedger``) and the vectors (pgvector,
``vectors.PgVectorCatalog``) in one database, for any number of servers on any number of hosts.

One module per idea, each a part of ``PostgresLedger`` implementing the protocol of the same
name in ``mcp_memory.store.ledger``, as the SQLite ledger's parts do (``mcp_memory.ledger``):
the database and its pool (``database``), the schema (``migrations``), a memory as a row
(``rows``), filters rendered as SQL (``filters``), writing memories (``memories``) and reading
them (``reads``), the index outbox (``outbox``), the keyword index (``keywords``), sessions
(``sessions``), the lifecycle journal (``journal``), shared state (``state``) and the
integrity check (``integrity``); what a person is told of a failure is in ``faults``. This
package is the only code that imports ``psycopg`` or ``pgvector``.

What makes many servers safe is in the database, not in any process: every write is one
transaction, the outbox entry in it; two identical adds meet on a unique index; caches are
keyed by versions the database raises in the same transaction as the change (sessions, the
keyword index); migrations and index writes take advisory locks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mcp_memory.lru import Bounded
from mcp_memory.postgres.database import Database
from mcp_memory.postgres.integrity import Integrity
from mcp_memory.postgres.journal import Journal
from mcp_memory.postgres.keywords import KeywordIndex
from mcp_memory.postgres.memories import Counting, MemoryWriter
from mcp_memory.postgres.migrations import migrate, schema_version
from mcp_memory.postgres.outbox import Outbox
from mcp_memory.postgres.reads import MemoryReader
from mcp_memory.postgres.sessions import SessionStore
from mcp_memory.postgres.state import StateStore

__all__ = ["Database", "PostgresLedger"]


class PostgresLedger(
    MemoryWriter,
    MemoryReader,
    Outbox,
    KeywordIndex,
    StateStore,
    SessionStore,
    Journal,
    Integrity,
):
    """The ledger in a PostgreSQL schema, over the database's pool of connections (shared by
    the service's threads). Opening it brings the schema up to date; closing it closes the
    pool."""

    def __init__(self, database: Database):
        self.db = database
        self._members = Bounded(capacity=4096)
        self._term_counts = Bounded(capacity=4096)
        self._recent = threading.local()
        self._counting = Counting()
        migrate(database)

    @property
    def schema_version(self) -> int:
        return schema_version(self.db)

    def close(self) -> None:
        self._counting.close()  # the access counts still being written, first
        self.db.close()

    @contextmanager
    def traced(self) -> Iterator[list[str]]:
        """Every statement the ledger's connections run meanwhile, in order, as written (with
        ``%s`` for parameters): how a test or a profile sees what a call costs."""
        with self.db.traced() as seen:
            yield seen

    def query_plan(self, sql: str, params: Sequence[Any] = ()) -> list[str]:
        """PostgreSQL's plan for one statement (``EXPLAIN``), a line per step."""
        return [row[0] for row in self._read("EXPLAIN " + sql, params)]

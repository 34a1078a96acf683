"""The PostgreSQL database a ledger and its vector indexes share: a pool of connections, reads,
write transactions, the transaction an index write holds under an advisory lock, and what a
person is told when the server is away.

Connections are in autocommit mode, so a read is one statement and a write is exactly the
transaction ``write`` opens (``BEGIN`` is sent on entry). A write whose ``BEGIN`` fails on a
connection that died while idle (the server restarted) is retried on a fresh one: nothing was
sent. A write rolled back by a deadlock, a serialization failure or a unique-key race is run
again from the start: the transaction changed nothing. Any other failure reaches the caller as
``StoreUnavailable`` (the server is away) or as the error it is: nothing is acknowledged that
was not committed.

``held`` gives a thread one transaction for everything it does inside, under a cross-process
advisory lock: the vector index's write lock (``IndexGuard``), so that the vectors, the
outbox entries they clear and any ledger change in between commit together.

The password of the DSN never appears in what this module logs or raises: errors name the
server by host, port, database and user (``Target``). A statement that meets damage in the
database is a ``StoreDamaged`` (or, in a pgvector table, ``IndexDamaged``) error, and writes are
refused after it (``faults.Damage``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import errors
from psycopg.abc import Query
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from mcp_memory.errors import StoreUnavailable
from mcp_memory.postgres.faults import DAMAGED, Damage, Target, unavailable
from mcp_memory.postgres.tracing import tracing_cursor

T = TypeVar("T")
Conn = psycopg.Connection[Any]

ATTEMPTS = 4
"""Tries of a write rolled back by a deadlock or a race, or of a read on a dead connection."""
RETRYABLE = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation)
MIN_SERVER_VERSION = 140000
"""SQL-standard function bodies (``RETURN ...``), which the keyword index's functions use."""

# The pool logs every checkout at INFO: far too chatty under the server's default log level.
logging.getLogger("psycopg.pool").setLevel(logging.WARNING)


def advisory_key(name: str) -> str:
    """The text an advisory lock is hashed from (``hashtextextended``)."""
    return f"mcp_memory:{name}"


def lock(conn: Conn, name: str) -> None:
    """Take the transaction-scoped advisory lock ``name`` (one holder across every session of
    the database until the transaction ends)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [advisory_key(name)])


@dataclass(frozen=True)
class VectorType:
    """pgvector's ``vector`` type in this database: the schema it lives in (put on the search
    path) and its type info, registered on every pooled connection."""

    schema: str
    info: TypeInfo

    @classmethod
    def ensure(cls, conn: Conn, target: Target) -> VectorType:
        """The installed extension, created first (in ``public``) if this user may."""
        find = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'"
        with conn.transaction():
            lock(conn, "extension")
            row = conn.execute(find).fetchone()
            if row is None:
                try:
                    with conn.transaction():
                        conn.execute("CREATE EXTENSION vector SCHEMA public")
                except psycopg.Error as exc:
                    raise StoreUnavailable(
                        f"the pgvector extension is not installed in PostgreSQL at {target} "
                        f"and could not be ({target.scrub(str(exc).strip().splitlines()[0])}): "
                        "ask an administrator to run CREATE EXTENSION vector; in that "
                        'database, or keep the vectors in a Chroma or Qdrant server ([vector] mode = "server")'
                    ) from None
                row = conn.execute(find).fetchone()
        schema = row[0]
        info = TypeInfo.fetch(conn, f"{schema}.vector")
        assert info is not None
        return cls(schema, info)

    def register(self, conn: Conn) -> None:
        from pgvector.psycopg.vector import register_vector_info

        register_vector_info(conn, self.info)


class Database:
    """A pool of connections to one schema of one database, shared by the ledger's parts and
    the vector catalog; ``close`` once, by the ledger."""

    def __init__(
        self,
        dsn: str,
        schema: str,
        pool_size: int = 10,
        timeout_s: float = 10.0,
        vectors: bool = False,
        ef_search: int = 100,
    ):
        self.target = Target.of(dsn)
        self.schema = schema
        self._options = (pool_size, timeout_s, vectors, ef_search)
        self.timeout_s = timeout_s
        self._dsn = dsn
        self._local = threading.local()
        self.damage = Damage(self.target, schema)
        self._traces: list[list[str]] = []
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "cursor_factory": tracing_cursor(self._traces),
            "connect_timeout": max(2, round(timeout_s)),
            "options": f"-c TimeZone=UTC -c search_path={schema},public",
            "application_name": "mcp-memory",
        }
        self.server_version, vector_type = self._bootstrap(vectors)
        if vector_type is not None:
            self._kwargs["options"] = (
                f"-c TimeZone=UTC -c search_path={schema},{vector_type.schema},public "
                f"-c hnsw.ef_search={int(ef_search)} -c hnsw.iterative_scan=relaxed_order"
            )
        self.vectors = vector_type is not None
        self._pool = ConnectionPool(
            dsn,
            kwargs=self._kwargs,
            min_size=1,
            max_size=max(2, pool_size),
            timeout=timeout_s,
            configure=None if vector_type is None else vector_type.register,
            name=f"mcp-memory {schema}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout_s)
        except PoolTimeout as exc:
            self._pool.close()
            raise unavailable(self.target, exc, " at start-up") from None

    def _bootstrap(self, vectors: bool) -> tuple[int, VectorType | None]:
        """Connect once, directly, so that an unreachable server at start-up is one clear error
        (the pool would retry in the background and log each failure); check the server's
        version and, if vectors live here, that pgvector is installed (installing it if this
        user may)."""
        with self.connect() as conn:
            version = conn.info.server_version
            if version < MIN_SERVER_VERSION:
                raise StoreUnavailable(
                    f"PostgreSQL at {self.target} is version {version // 10000}; mcp-memory "
                    f"needs {MIN_SERVER_VERSION // 10000} or later: upgrade the server"
                )
            return version, (VectorType.ensure(conn, self.target) if vectors else None)

    def another(self) -> Database:
        """Another database object on the same server and schema, with its own pool: what
        another server opens."""
        return Database(self._dsn, self.schema, *self._options)

    def connect(self) -> Conn:
        """A connection of its own (not from the pool), with the pool's settings: for the
        migrations and for bulk copies. The caller closes it."""
        try:
            return psycopg.connect(self._dsn, **self._kwargs)
        except psycopg.Error as exc:
            raise unavailable(self.target, exc, " at start-up") from None

    def close(self) -> None:
        self._pool.close()

    # -- reads and writes ----------------------------------------------------------------

    def read(
        self, sql: Query, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Every row of one statement."""
        return self.run(lambda conn: conn.execute(sql, params).fetchall())

    def run(self, work: Callable[[Conn], T]) -> T:
        """``work`` on a connection outside any transaction (reads: each statement alone), on
        the thread's held transaction if there is one. Retried on a fresh connection when
        the one taken proves dead (reads only: ``work`` must not write)."""
        with self._checked():
            return self._run(work)

    def _run(self, work: Callable[[Conn], T]) -> T:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return self._guarded(lambda: work(held))
        for attempt in range(ATTEMPTS):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except (PoolTimeout, PoolClosed) as exc:
                raise unavailable(self.target, exc) from None
            except psycopg.OperationalError as exc:
                if attempt == ATTEMPTS - 1 or not _connection_lost(exc):
                    raise unavailable(self.target, exc) from None
                self._pool.check()
        raise AssertionError("unreachable")

    def write(self, body: Callable[[Conn], T]) -> T:
        """Run ``body`` in one transaction and commit it; run it again from the start when the
        database rolled it back for a deadlock, a serialization failure or a unique-key race
        (each try changes nothing until it commits). Inside ``held``, a savepoint of the held
        transaction instead."""
        with self._checked(writing=True):
            return self._write(body)

    def _write(self, body: Callable[[Conn], T]) -> T:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return self._guarded(lambda: _in_savepoint(held, body))
        for attempt in range(ATTEMPTS):
            try:
                with self._begun() as conn:
                    return body(conn)
            except RETRYABLE:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))  # back off before competing again
            except psycopg.OperationalError as exc:
                raise unavailable(self.target, exc) from None
        raise AssertionError("unreachable")

    def statement(self, sql: Query, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """One writing statement as its own transaction (one round trip: the connection is in
        autocommit mode), run again after a deadlock or a race; inside ``held``, part of the
        held transaction. Returns the rows it changed."""
        return self._one(lambda conn: conn.execute(sql, params).rowcount)

    def run_statement(
        self, sql: Query, params: Sequence[Any] | dict[str, Any] = ()
    ) -> tuple[Any, ...]:
        """``statement``, returning the one row it selects."""
        return self._one(lambda conn: conn.execute(sql, params).fetchone())

    def _one(self, work: Callable[[Conn], T]) -> T:
        """A single statement on a pooled connection; run again after a deadlock or a race,
        or when the connection turns out to have been closed by a server restart before the
        statement reached it (the server's goodbye is what came back: nothing ran)."""
        with self._checked(writing=True):
            return self._once(work)

    def _once(self, work: Callable[[Conn], T]) -> T:
        held = getattr(self._local, "conn", None)
        if held is not None:
            return self._guarded(lambda: work(held))
        for attempt in range(ATTEMPTS):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except RETRYABLE:
                if attempt == ATTEMPTS - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
            except errors.AdminShutdown as exc:
                if attempt == ATTEMPTS - 1:
                    raise unavailable(self.target, exc) from None
                self._pool.check()
            except (PoolTimeout, PoolClosed, psycopg.OperationalError) as exc:
                raise unavailable(self.target, exc) from None
        raise AssertionError("unreachable")

    def holding(self) -> bool:
        """Whether this thread is inside a held transaction (``held``)."""
        return getattr(self._local, "conn", None) is not None

    @contextmanager
    def held(self, name: str) -> Iterator[None]:
        """One transaction for everything this thread reads and writes inside, taken under the
        advisory lock ``name`` (one holder across every process on the database) and committed
        at the end; re-entrant. Another thread waits for the lock, not for this thread."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        self.damage.writable()
        with self._begun() as conn:
            self._guarded(lambda: lock(conn, f"{self.schema}:{name}"))
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _begun(self) -> Iterator[Conn]:
        """A pooled connection with a transaction begun on it, committed when the block ends
        (rolled back on an exception). A connection found dead at ``BEGIN`` is replaced."""
        for attempt in range(ATTEMPTS):
            stack = ExitStack()
            try:
                conn = stack.enter_context(self._pool.connection())
                stack.enter_context(conn.transaction())
            except (PoolTimeout, PoolClosed) as exc:
                _unwind(stack)
                raise unavailable(self.target, exc) from None
            except psycopg.OperationalError as exc:
                _unwind(stack)
                if attempt == ATTEMPTS - 1 or not _connection_lost(exc):
                    raise unavailable(self.target, exc) from None
                self._pool.check()
                continue
            try:
                with stack:  # the commit, or the rollback, happens on leaving
                    yield conn
            except psycopg.OperationalError as exc:
                if isinstance(exc, RETRYABLE):
                    raise
                raise unavailable(self.target, exc) from None
            return

    @contextmanager
    def _checked(self, writing: bool = False) -> Iterator[None]:
        """Refuse a write once the ledger was found damaged; turn damage a statement meets
        into the core's error (``faults``)."""
        if writing:
            self.damage.writable()
        try:
            yield
        except DAMAGED as exc:
            raise self.damage.met(exc, getattr(self._local, "index", None)) from None

    @contextmanager
    def on_index(self, relation: str) -> Iterator[None]:
        """Damage met inside is the pgvector table ``relation``'s, not the ledger's."""
        previous = getattr(self._local, "index", None)
        self._local.index = relation
        try:
            yield
        finally:
            self._local.index = previous

    @contextmanager
    def traced(self) -> Iterator[list[str]]:
        """Every statement this database's connections run meanwhile, in order (any thread)."""
        seen: list[str] = []
        self._traces.append(seen)
        try:
            yield seen
        finally:
            self._traces.remove(seen)

    def _guarded(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except psycopg.OperationalError as exc:
            if isinstance(exc, RETRYABLE):
                raise
            raise unavailable(self.target, exc) from None


def _in_savepoint(conn: Conn, body: Callable[[Conn], T]) -> T:
    with conn.transaction():
        return body(conn)


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """Whether the connection itself failed (the server restarted or the network dropped),
    rather than the statement (a cancel, a timeout)."""
    return isinstance(exc, errors.AdminShutdown) or exc.sqlstate is None


def _unwind(stack: ExitStack) -> None:
    """Leave a half-entered stack as after an error, ignoring what a dead connection raises
    while rolling back."""
    with suppress(psycopg.Error):
        stack.__exit__(*sys.exc_info())


class Part:
    """The base of every part of ``PostgresLedger``: the database they share."""

    db: Database

    def _settle(self) -> None:
        """Wait for this process's access counts still being written (``MemoryWriter``):
        every read of what they change calls it first."""

    def _read(
        self, sql: Query, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        return self.db.read(sql, params)

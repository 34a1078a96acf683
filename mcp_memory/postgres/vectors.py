"""pgvector, the vector engine in the ledger's own database: one table per index as a
``VectorIndex``, and the catalog of those tables as an ``IndexCatalog``.

Each index is a table of (id, scope ids, ``vector(dimension)``) with an HNSW index in cosine
space (``vector_cosine_ops``) and a B-tree on the scope that holds the vectors again
(``INCLUDE``): a scope's vectors sit together in it, read from the index alone, where the
table has them scattered among every user's (the scoped copy of the SQLite store, in
PostgreSQL's terms). A query within a scope or among given ids is exact (a scan of those rows,
scored by the inner product: the HNSW index is kept out of it), so a small scope never loses
a neighbour to a filtered graph walk; a query over everything walks the HNSW graph. (A user of
1,000 memories among 100,000 is 1% of the graph: a filtered walk, even pgvector 0.8's
iterative one, visits far more nodes than the 1,000 rows the scope's index holds, which
``EXPLAIN ANALYZE`` shows scanned and scored in about a millisecond.) The catalog (``vector_indexes``) records each table's model and
dimension, refuses another model (``IndexMismatch``), and keeps each table's row count, so
``count`` reads one row. Writes run on the database's connections, inside the index's held
transaction when the service writes (``Database.held``): the vectors and the outbox entries
they clear commit together.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from psycopg import sql

from mcp_memory.postgres.database import Conn, Database, lock
from mcp_memory.store.vectors import VectorBlock, VectorHit, VectorRecord, check_model

SCOPE_KEYS = ("user_id", "agent_id", "session_id")


def relation_name(name: str) -> str:
    """A table name for an index name: readable, unique (a hash of the name), under 63 bytes."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower())[:40]
    return f"vectors_{slug}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _array(vector: Any) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32)


class PgVectorIndex:
    """One index's table; made by ``PgVectorCatalog.open``."""

    def __init__(self, db: Database, name: str, relation: str):
        self._db = db
        self.name = name
        self._relation = relation
        self._table = sql.Identifier(relation)

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(table=self._table)

    def upsert(self, records: Sequence[VectorRecord]) -> None:
        if not records:
            return
        latest = {r.id: r for r in records}  # one row per id in a statement
        columns = [
            list(latest),
            *([getattr(r, key) for r in latest.values()] for key in SCOPE_KEYS),
            [_array(r.vector) for r in latest.values()],
        ]
        statement = self._sql(
            "INSERT INTO {table} (id, user_id, agent_id, session_id, embedding) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::vector[]) "
            "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
            "agent_id = excluded.agent_id, session_id = excluded.session_id, "
            "embedding = excluded.embedding RETURNING (xmax = 0)"
        )

        def write(conn: Conn) -> None:
            added = sum(1 for row in conn.execute(statement, columns) if row[0])
            self._counted(conn, added)

        with self._db.on_index(self._relation):
            self._db.write(write)

    def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return

        def write(conn: Conn) -> None:
            gone = conn.execute(
                self._sql("DELETE FROM {table} WHERE id = ANY(%s)"), (list(ids),)
            ).rowcount
            self._counted(conn, -gone)

        with self._db.on_index(self._relation):
            self._db.write(write)

    def _counted(self, conn: Conn, change: int) -> None:
        if change:
            conn.execute(
                "UPDATE vector_indexes SET rows = rows + %s WHERE name = %s", (change, self.name)
            )

    def query(
        self,
        vector: np.ndarray,
        k: int,
        scope: dict[str, str] | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[VectorHit]:
        """The k nearest: exact within a scope or among ``ids``, through the HNSW graph over
        everything."""
        if k <= 0 or (ids is not None and not ids):
            return []
        where, params = _scope_where(scope or {})
        if ids is not None:
            where += " AND id = ANY(%s)"
            params.append(list(ids))
        query = _array(vector)
        if where == "TRUE":
            statement = self._sql(
                "SELECT id, embedding <=> %b AS d FROM {table} ORDER BY embedding <=> %b LIMIT %s"
            )
            rows = self._read(statement, [query, query, k])
            return [VectorHit(id=row[0], similarity=1.0 - float(row[1])) for row in rows]
        # Every row of the scope is scored (OFFSET 0 keeps the planner off the HNSW index), by
        # the inner product: the vectors are L2-normalised (``Embedder``), so it is the cosine,
        # as SQLite's exact path computes it, for a quarter less work than ``<=>``.
        statement = self._sql(
            "SELECT id, d FROM (SELECT id, embedding <#> %b AS d FROM {table} WHERE "
            + where
            + " OFFSET 0) scoped ORDER BY d, id LIMIT %s"
        )
        rows = self._read(statement, [query, *params, k])
        return [VectorHit(id=row[0], similarity=-float(row[1])) for row in rows]

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        """None: a scope's nearest are found in the database (``query``), which sends back
        ``k`` rows rather than every vector of the scope."""
        return None

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        statement = self._sql("SELECT id, embedding FROM {table} WHERE id = ANY(%s)")
        with self._db.on_index(self._relation):
            rows = self._db.run(
                lambda conn: conn.execute(statement, (list(ids),), binary=True).fetchall()
            )
        return {row[0]: _array(row[1].to_numpy()) for row in rows}

    def similarities(self, vector: np.ndarray, ids: Sequence[str]) -> dict[str, float]:
        """Each id's cosine to ``vector``, scored in the database (``ScoresInPlace``): by the
        inner product, as the exact search scores (the vectors are L2-normalised)."""
        if not ids:
            return {}
        statement = self._sql("SELECT id, embedding <#> %b FROM {table} WHERE id = ANY(%s)")
        return {
            row[0]: -float(row[1]) for row in self._read(statement, [_array(vector), list(ids)])
        }

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        statement = self._sql("SELECT id FROM {table} WHERE id = ANY(%s)")
        return {row[0] for row in self._read(statement, (list(ids),))}

    def all_ids(self) -> list[str]:
        return [row[0] for row in self._read(self._sql("SELECT id FROM {table}"))]

    def count(self) -> int:
        rows = self._db.read("SELECT rows FROM vector_indexes WHERE name = %s", (self.name,))
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        """Nothing to release: the connections are the database's."""

    def _read(self, statement: sql.Composed, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a statement on this table: damage met is the index's (``IndexDamaged``)."""
        with self._db.on_index(self._relation):
            return self._db.read(statement, params)


class PgVectorCatalog:
    """The pgvector indexes of the store's schema, by name (``IndexCatalog``)."""

    def __init__(self, db: Database, m: int = 16, ef_construction: int = 100):
        self._db = db
        self._hnsw = (m, ef_construction)

    def open(self, name: str, model: str, dimension: int) -> PgVectorIndex:
        """The index ``name``, created if missing (under the catalog's lock: one server makes
        it); refused when it was built with another model or dimension."""
        found = self._db.read(
            "SELECT relation, model, dimension FROM vector_indexes WHERE name = %s", (name,)
        )
        if not found:
            found = [self._db.write(lambda conn: self._create(conn, name, model, dimension))]
        relation, built_model, built_dimension = found[0]
        check_model(built_model, built_dimension, model, dimension)
        return PgVectorIndex(self._db, name, relation)

    def _create(self, conn: Conn, name: str, model: str, dimension: int) -> tuple[str, str, int]:
        lock(conn, f"{self._db.schema}:catalog")
        row = conn.execute(
            "SELECT relation, model, dimension FROM vector_indexes WHERE name = %s", (name,)
        ).fetchone()
        if row is not None:  # another server made it while this one waited for the lock
            return row
        relation = relation_name(name)
        m, ef = self._hnsw
        conn.execute(
            sql.SQL(
                "CREATE TABLE {table} (id text PRIMARY KEY, user_id text NOT NULL, "
                "agent_id text NOT NULL, session_id text NOT NULL, "
                "embedding vector({dimension}) NOT NULL); "
                "CREATE INDEX ON {table} (user_id, agent_id, session_id) "
                "INCLUDE (id, embedding); "
                "CREATE INDEX ON {table} (agent_id); CREATE INDEX ON {table} (session_id); "
                "CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = {m}, ef_construction = {ef})"
            ).format(
                table=sql.Identifier(relation),
                dimension=sql.Literal(int(dimension)),
                m=sql.Literal(int(m)),
                ef=sql.Literal(int(ef)),
            )
        )
        conn.execute(
            "INSERT INTO vector_indexes (name, relation, model, dimension) VALUES (%s, %s, %s, %s)",
            (name, relation, model, dimension),
        )
        return relation, model, dimension

    def drop(self, name: str) -> bool:
        """Delete the index ``name`` and its table; True when one was deleted."""

        def drop(conn: Conn) -> bool:
            lock(conn, f"{self._db.schema}:catalog")
            row = conn.execute(
                "DELETE FROM vector_indexes WHERE name = %s RETURNING relation", (name,)
            ).fetchone()
            if row is None:
                return False
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(row[0])))
            return True

        return self._db.write(drop)

    def names(self) -> list[str]:
        return [row[0] for row in self._db.read("SELECT name FROM vector_indexes ORDER BY name")]

    def close(self) -> None:
        """Nothing to release: the database belongs to the ledger, which closes it."""

    def reset(self) -> None:
        """Drop every index's table and empty the catalog: a table was found damaged
        (``IndexDamaged``), and the ledger's outbox refills a new one (``IndexGuard``)."""

        def drop_all(conn: Conn) -> None:
            lock(conn, f"{self._db.schema}:catalog")
            dropped = conn.execute("DELETE FROM vector_indexes RETURNING relation").fetchall()
            for (relation,) in dropped:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(relation)))

        self._db.write(drop_all)


def _scope_where(scope: dict[str, str]) -> tuple[str, list[Any]]:
    terms = [(key, value) for key, value in scope.items() if key in SCOPE_KEYS and value]
    if not terms:
        return "TRUE", []
    return " AND ".join(f"{key} = %s" for key, _ in terms), [value for _, value in terms]

"""Whether the ledger's tables are sound: the check that gates writes, and doctor's fuller one
(the contract of ``mcp_memory.ledger.integrity``).

PostgreSQL finds damage itself, on the page or index a statement reads (``faults``); the cheap
check is what this process's statements have met so far. The full one (``doctor``) looks at
everything: with the ``amcheck`` extension installed in the database, its ``verify_heapam``
and ``bt_index_check`` over each table and B-tree index of the schema; without it, a read of
every row of every table (a damaged page fails the read). Nothing here writes.
"""

from __future__ import annotations

from mcp_memory.errors import StoreDamaged
from mcp_memory.postgres.database import Part

_RELATIONS = """
SELECT c.oid::regclass::text, c.relkind::text, coalesce(am.amname, '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_am am ON am.oid = c.relam
WHERE n.nspname = %s AND c.relkind IN ('r', 'i') ORDER BY c.relkind DESC, c.relname
"""
_AMCHECK = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'amcheck'"


class Integrity(Part):
    """The ledger's integrity check, as ``store.ledger.Integrity`` declares it."""

    def check_integrity(self, full: bool = False) -> list[str]:
        """The damage found (none: an empty list): what statements met so far, and with
        ``full`` a look at every table and index. Once any is found, writes are refused."""
        if full:
            for problem in self._look_everywhere():
                self.db.damage.record(problem)
        return list(self.db.damage.problems)

    def verify(self) -> None:
        """``StoreDamaged`` if statements have met damage (writes are refused meanwhile)."""
        if self.check_integrity():
            raise self.db.damage.error()

    def _look_everywhere(self) -> list[str]:
        relations = self._read(_RELATIONS, (self.db.schema,))
        amcheck = self._read(_AMCHECK)
        problems: list[str] = []
        for name, kind, method in relations:
            if amcheck:
                at = amcheck[0][0]
                if kind == "r":
                    statement = f"SELECT blkno, msg FROM {at}.verify_heapam(%s::regclass)"
                elif method == "btree":
                    statement = f"SELECT NULL, NULL FROM {at}.bt_index_check(%s::regclass)"
                else:
                    continue
                params: tuple[str, ...] = (name,)
            elif kind == "r":
                statement, params = f"SELECT count(*), NULL FROM (SELECT * FROM {name}) t", ()
            else:
                continue
            try:
                rows = self._read(statement, params)
            except StoreDamaged:  # PostgreSQL's message names the page; recorded already
                continue
            problems.extend(f"{name} page {blkno}: {msg}" for blkno, msg in rows if msg)
        return problems

"""Whether the ledger's file is sound: the check that gates writes, and doctor's fuller one.

The check itself lives with the connection (``Connection._verdict``), which runs it before a
process's first write; this part lets the server run it early, in the background, and
``doctor`` run SQLite's full ``integrity_check``.
"""

from __future__ import annotations

from mcp_memory.errors import LedgerDamaged
from mcp_memory.ledger.connection import Connection


class Integrity(Connection):
    """The ledger's integrity check, as ``store.ledger.Integrity`` declares it."""

    def check_integrity(self, full: bool = False) -> list[str]:
        """The problems SQLite finds in the file (none: an empty list). ``full`` runs
        ``integrity_check`` (every index cross-checked: 3 s at 100k memories) instead of
        ``quick_check`` (0.3 s). Once a check has found problems, writes are refused."""
        with self._translated():
            return list(self._verdict(full))

    def verify(self) -> None:
        """Run the cheap check now rather than before the first write; ``LedgerDamaged`` when
        it finds problems (writes are refused from then on)."""
        if problems := self.check_integrity():
            raise LedgerDamaged(self.path, "; ".join(problems))

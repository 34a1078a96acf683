"""What processes sharing a data dir keep beside the memories: named values (which vector
collection is current, a reindex under way) and change counters (of the vector index, of the
keyword index), and the size of the store on disk."""

from __future__ import annotations

from mcp_memory.ledger.connection import Connection


class StateStore(Connection):
    """Key/value state and counters, each read or changed atomically across processes."""

    def get_state(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def counter(self, name: str) -> int:
        """A counter's value (0 if it was never bumped); one indexed read, cheap on hot paths."""
        rows = self._read("SELECT value FROM counters WHERE name = ?", (name,))
        return rows[0][0] if rows else 0

    def bump_counter(self, name: str) -> int:
        """Add one to a counter and return the new value, atomically across processes."""
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO counters (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                (name,),
            ).fetchone()
        return row[0]

    def size_bytes(self) -> int:
        return sum(
            p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()
        )

"""What every server sharing the store keeps beside the memories: named values (which vector
index is current, a reindex under way), change counters, and the store's size."""

from __future__ import annotations

from mcp_memory.postgres.database import Part


class StateStore(Part):
    """Key/value state and counters, each read or changed atomically across servers."""

    def get_state(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE key = %s", (key,))
        return rows[0][0] if rows else None

    def set_state(self, key: str, value: str) -> None:
        self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO state (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    def counter(self, name: str) -> int:
        """A counter's value (0 if it was never bumped); one indexed read."""
        rows = self._read("SELECT value FROM counters WHERE name = %s", (name,))
        return rows[0][0] if rows else 0

    def bump_counter(self, name: str) -> int:
        """Add one to a counter and return the new value, atomically across servers."""
        return self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO counters (name, value) VALUES (%s, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                (name,),
            ).fetchone()[0]
        )

    def size_bytes(self) -> int:
        """The schema's tables with their indexes and TOAST data, in bytes."""
        rows = self._read(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'm')",
            (self.db.schema,),
        )
        return int(rows[0][0])

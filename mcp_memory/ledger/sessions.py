"""Sessions: each (user, agent, session) scope's members in order, read per session version,
and the order verdicts search keeps per session (``search.sessions.SessionOrders``)."""

from __future__ import annotations

from collections.abc import Sequence

from mcp_memory.ledger.connection import Connection, chunked, marks
from mcp_memory.ledger.filters import render
from mcp_memory.lru import Bounded
from mcp_memory.store.records import MemoryFilter, Session, SessionKey

SESSION_CHUNK = 300
"""Session keys bound in one statement (three parameters each)."""


def session_keys(keys: Sequence[SessionKey]) -> tuple[str, list[str]]:
    """A ``WITH keys(u, a, s)`` clause holding these session keys, and its parameters. Joined
    on, each key is looked up in an index; a row-value ``IN (VALUES ...)`` list instead made
    SQLite scan the whole scope index."""
    rows = ",".join(["(?,?,?)"] * len(keys))
    return f"WITH keys(u, a, s) AS (VALUES {rows})", [v for key in keys for v in key]


class SessionStore(Connection):
    """Session member lists (cached per session version) and session order verdicts."""

    _members: Bounded
    """(session key, version, filter) -> member ids; created by ``Ledger``."""

    def sessions(self, ids: Sequence[str], flt: MemoryFilter) -> list[Session]:
        """The sessions the given memories belong to, each with its members in order.

        A session is one (user, agent, session) scope with a session id, in ``created_at``
        order (insertion order breaks ties). Only memories passing the filter count, so a
        deleted or hidden memory leaves no gap. Memories without a session belong to none.
        Member lists are kept per session version (migration 7: raised by any change to a
        member, by any process), so a search reads only the sessions that changed.
        """
        if not ids:
            return []
        versions: dict[SessionKey, int] = {}
        for chunk in chunked(ids):
            for user, agent, session, version in self._read(
                "SELECT DISTINCT m.user_id, m.agent_id, m.session_id, v.version "
                "FROM memories m JOIN session_versions v USING (user_id, agent_id, session_id) "
                f"WHERE m.id IN ({marks(len(chunk))}) AND m.session_id <> ''",
                chunk,
            ):
                versions[(user, agent, session)] = version
        view = repr(flt)
        found = {key: self._members.get((key, version, view)) for key, version in versions.items()}
        missing = sorted(key for key, members in found.items() if members is None)
        for key, members in self._read_members(missing, flt).items():
            found[key] = members
            self._members.put((key, versions[key], view), members)
        return [
            Session(key, members, str(versions[key]))
            for key, members in found.items()
            if members  # every member filtered out: no session to speak of
        ]

    def _read_members(
        self, keys: Sequence[SessionKey], flt: MemoryFilter
    ) -> dict[SessionKey, tuple[str, ...]]:
        """The members of these sessions that pass the filter, oldest first."""
        where, params = render(flt)
        members: dict[SessionKey, list[str]] = {key: [] for key in keys}
        for chunk in chunked(keys, SESSION_CHUNK):
            keyed, values = session_keys(chunk)
            rows = self._read(
                f"{keyed} SELECT user_id, agent_id, session_id, id FROM keys JOIN memories "
                f"ON user_id = u AND agent_id = a AND session_id = s WHERE {where} "
                "ORDER BY user_id, agent_id, session_id, created_at, seq",
                [*values, *params],
            )
            for user, agent, session, memory_id in rows:
                members[(user, agent, session)].append(memory_id)
        return {key: tuple(ids) for key, ids in members.items()}

    def session_orders(
        self, keys: Sequence[SessionKey]
    ) -> dict[SessionKey, tuple[str, float | None]]:
        """The kept order verdicts of these sessions: (what was judged, score or None)."""
        found: dict[SessionKey, tuple[str, float | None]] = {}
        for chunk in chunked(keys, SESSION_CHUNK):
            keyed, values = session_keys(chunk)
            for user, agent, session, judged, score in self._read(
                f"{keyed} SELECT user_id, agent_id, session_id, judged, score FROM keys "
                "JOIN session_orders ON user_id = u AND agent_id = a AND session_id = s",
                values,
            ):
                found[(user, agent, session)] = (judged, score)
        return found

    def keep_session_orders(self, verdicts: Sequence[tuple[SessionKey, str, float | None]]) -> None:
        """Keep (session key, what was judged, score or None) verdicts, replacing older ones."""
        if verdicts:
            with self.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO session_orders VALUES (?, ?, ?, ?, ?)",
                    [(*key, judged, score) for key, judged, score in verdicts],
                )

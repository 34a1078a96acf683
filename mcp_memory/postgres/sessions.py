"""Sessions: each (user, agent, session) scope's members in order, read per session version,
and the order verdicts search keeps per session (the contract of
``mcp_memory.ledger.sessions``). Session keys travel as three parallel arrays, unnested and
joined on, so each key is one index lookup."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mcp_memory.lru import Bounded
from mcp_memory.postgres.database import Conn, Part
from mcp_memory.postgres.filters import render
from mcp_memory.store.records import MemoryFilter, Session, SessionKey

KEYS = "unnest(%s::text[], %s::text[], %s::text[]) AS k(u, a, s)"
"""Session keys as a relation, from ``columns(keys)``."""


def columns(keys: Sequence[SessionKey]) -> list[list[str]]:
    """The users, agents and sessions of these keys: the parameters of ``KEYS``."""
    return [[key[n] for key in keys] for n in range(3)]


class SessionStore(Part):
    """Session member lists (cached per session version) and session order verdicts."""

    _members: Bounded
    """(session key, version, filter) -> member ids; created by ``PostgresLedger``."""
    _recent: threading.local
    """The order verdicts this thread read with its last sessions (``verdicts``: key ->
    (judged, score), or None for none kept), for the ``session_orders`` a search asks next;
    created by ``PostgresLedger``."""

    def sessions(self, ids: Sequence[str], flt: MemoryFilter) -> list[Session]:
        """The sessions the given memories belong to, each with its members in order (see
        ``store.ledger.SessionStore``); member lists are kept per session version, raised by
        a trigger on any change to a member by any server, so a search reads only the
        sessions that changed."""
        if not ids:
            return []
        versions: dict[SessionKey, int] = {}
        verdicts: dict[SessionKey, tuple[str, float | None] | None] = {}
        for user, agent, session, version, judged, score in self._read(
            "SELECT DISTINCT m.user_id, m.agent_id, m.session_id, v.version, o.judged, o.score "
            "FROM memories m JOIN session_versions v USING (user_id, agent_id, session_id) "
            "LEFT JOIN session_orders o USING (user_id, agent_id, session_id) "
            "WHERE m.id = ANY(%s) AND m.session_id <> ''",
            (list(ids),),
        ):
            versions[user, agent, session] = version
            verdicts[user, agent, session] = None if judged is None else (judged, score)
        self._recent.verdicts = verdicts
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
        if not keys:
            return {}
        where, params = render(flt)
        rows = self._read(  # a row per session: its members in order, from the scope index
            "SELECT k.u, k.a, k.s, (SELECT array_agg(m.id ORDER BY m.created_at, m.seq) "
            "FROM memories m WHERE m.user_id = k.u AND m.agent_id = k.a AND m.session_id = k.s "
            f"AND {where}) FROM {KEYS}",
            [*params, *columns(keys)],
        )
        return {(user, agent, session): tuple(ids or ()) for user, agent, session, ids in rows}

    def session_orders(
        self, keys: Sequence[SessionKey]
    ) -> dict[SessionKey, tuple[str, float | None]]:
        """The kept order verdicts of these sessions: (what was judged, score or None). Those
        of sessions this thread read last (``sessions`` reads their verdicts in the same
        statement) are answered from that read, once; others from the database."""
        if not keys:
            return {}
        read = getattr(self._recent, "verdicts", {})
        self._recent.verdicts = {}
        if all(key in read for key in keys):  # read with the sessions, just before
            return {key: verdict for key in keys if (verdict := read[key]) is not None}
        rows = self._read(
            f"SELECT o.user_id, o.agent_id, o.session_id, o.judged, o.score FROM {KEYS} "
            "JOIN session_orders o ON o.user_id = k.u AND o.agent_id = k.a AND o.session_id = k.s",
            columns(keys),
        )
        return {
            (user, agent, session): (judged, score) for user, agent, session, judged, score in rows
        }

    def keep_session_orders(self, verdicts: Sequence[tuple[SessionKey, str, float | None]]) -> None:
        """Keep (session key, what was judged, score or None) verdicts, replacing older ones."""
        if not verdicts:
            return
        latest = {key: (judged, score) for key, judged, score in verdicts}
        keys = sorted(latest)  # one order for every writer: no deadlock between two

        def keep(conn: Conn) -> None:
            conn.execute(
                "INSERT INTO session_orders (user_id, agent_id, session_id, judged, score) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::float8[]) ON CONFLICT (user_id, agent_id, session_id) "
                "DO UPDATE SET judged = excluded.judged, score = excluded.score",
                [
                    *columns(keys),
                    [latest[key][0] for key in keys],
                    [latest[key][1] for key in keys],
                ],
            )

        self.db.write(keep)

"""Whether a session is a conversation or a notebook, judged once per version of the session.

Hybrid retrieval reads a session memory through its neighbours (``ranking.py``). That is right
for a logged conversation and wrong for a session an agent used to jot down unrelated facts.
``ranking.session_order`` tells the two apart from the members' vectors; reading a whole
session's vectors on every search would cost more than the rest of the search, so the verdict
is kept and recomputed only when the session changes (its ``Session.stamp`` or member list
differs: a memory added, edited, moved or removed, by any process). It is kept twice: in memory,
and in the ledger (``store.ledger.SessionStore``), so a new process, and a search after an import (which
judges the sessions it filled), start with the verdicts instead of reading every vector again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mcp_memory.config import RankingSettings
from mcp_memory.lru import Bounded
from mcp_memory.search import ranking
from mcp_memory.store.ledger import SessionStore
from mcp_memory.store.records import Session
from mcp_memory.store.vectors import known_or_read

VectorReader = Callable[[Sequence[str]], Mapping[str, np.ndarray]]
Key = tuple[str, str, str]


class SessionOrders:
    """Each session's ``order_trust``, from verdicts kept per version of the session."""

    def __init__(
        self, read_vectors: VectorReader, store: SessionStore | None = None, capacity: int = 4096
    ):
        self._read = read_vectors
        self._store = store
        self._cache = Bounded(capacity)

    def trust(
        self,
        sessions: Sequence[Session],
        weights: RankingSettings,
        known: Mapping[str, np.ndarray] | None = None,
    ) -> dict[Key, float]:
        """Each session's key mapped to its trust (0 to 1); empty when the test is off.
        ``known`` holds vectors the caller has already read: only the others are read."""
        if weights.context_order_full <= 0:
            return {}
        gap = weights.context_order_gap
        samples = {s.key: s.members[-weights.context_order_sample :] for s in sessions}
        judged = {s.key: _what_is_judged(s, samples[s.key], gap) for s in sessions}
        orders: dict[Key, float] = {}
        for key, what in judged.items():
            if (order := self._cache.get((key, what))) is not None:
                orders[key] = order
        unknown = [key for key in judged if key not in orders]
        if unknown and self._store is not None:
            for key, (what, score) in self._store.session_orders(unknown).items():
                if what == judged[key]:
                    orders[key] = math.nan if score is None else score
                    self._cache.put((key, what), orders[key])
        fresh = [key for key in judged if key not in orders]
        for key in fresh:
            orders[key] = self._judge(samples[key], gap, known or {})
            self._cache.put((key, judged[key]), orders[key])
        if fresh and self._store is not None:
            self._store.keep_session_orders(
                [(k, judged[k], None if math.isnan(orders[k]) else orders[k]) for k in fresh]
            )
        full = weights.context_order_full
        return {
            key: ranking.order_trust(None if math.isnan(order) else order, full)
            for key, order in orders.items()
        }

    def _judge(self, members: Sequence[str], gap: int, known: Mapping[str, np.ndarray]) -> float:
        """The session's order score, NaN when it cannot be told (too short, vectors missing)."""
        if len(members) < ranking.shortest_judged(gap):
            return math.nan
        vectors = known_or_read(members, known, self._read)
        rows = [vectors[m] for m in members if m in vectors]
        order = ranking.session_order(np.stack(rows), gap) if rows else None
        return math.nan if order is None else order


def _what_is_judged(session: Session, members: Sequence[str], gap: int) -> str:
    """A verdict's validity: the session's version, the gap and the members judged."""
    digest = hashlib.blake2b("\n".join(members).encode(), digest_size=12).hexdigest()
    return f"{session.stamp}:{gap}:{digest}"

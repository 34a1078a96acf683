"""Whether a session is a conversation or a notebook, judged once per version of the session.

Hybrid retrieval reads a session memory through its neighbours (``retrieval.py``). That is right
for a logged conversation and wrong for a session an agent used to jot down unrelated facts.
``retrieval.session_order`` tells the two apart from the members' vectors; reading a whole
session's vectors on every search would cost more than the rest of the search, so the verdict
is kept per session and recomputed only when the session changes (its ``Session.stamp`` or
member list differs: a memory added, edited, moved or removed, by any process).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mcp_memory import retrieval
from mcp_memory.config import RankingSettings
from mcp_memory.ledger import Session
from mcp_memory.lru import Bounded

VectorReader = Callable[[Sequence[str]], Mapping[str, np.ndarray]]


class SessionOrders:
    """A bounded cache of each session's ``order_trust``, keyed by the session's version."""

    def __init__(self, read_vectors: VectorReader, capacity: int = 4096):
        self._read = read_vectors
        self._cache = Bounded(capacity)

    def trust(
        self,
        sessions: Sequence[Session],
        weights: RankingSettings,
        known: Mapping[str, np.ndarray] | None = None,
    ) -> dict[tuple[str, str, str], float]:
        """Each session's key mapped to its trust (0 to 1); empty when the test is off.
        ``known`` holds vectors the caller has already read: only the others are read."""
        if weights.context_order_full <= 0:
            return {}
        out: dict[tuple[str, str, str], float] = {}
        for session in sessions:
            members = session.members[-weights.context_order_sample :]
            key = (session.key, session.stamp, hash(members), weights.context_order_gap)
            order = self._cache.get(key)
            if order is None:
                order = self._judge(members, weights.context_order_gap, known or {})
                self._cache.put(key, order)
            out[session.key] = retrieval.order_trust(
                None if np.isnan(order) else order, weights.context_order_full
            )
        return out

    def _judge(self, members: Sequence[str], gap: int, known: Mapping[str, np.ndarray]) -> float:
        """The session's order score, NaN when it cannot be told (too short, vectors missing)."""
        if len(members) < retrieval.shortest_judged(gap):
            return float("nan")
        vectors = {m: known[m] for m in members if m in known}
        if len(vectors) < len(members):
            vectors.update(self._read([m for m in members if m not in vectors]))
        rows = [vectors[m] for m in members if m in vectors]
        order = retrieval.session_order(np.stack(rows), gap) if rows else None
        return float("nan") if order is None else order

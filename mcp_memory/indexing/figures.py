"""The index figures ``stats`` reports, for the whole store or for one scope.

Over the whole store (no scope given): the vector index's size, the outbox's length, and
whether they agree with the ledger. Over a scope, figures of that scope alone, so a caller
confined to it (a token bound to one user) learns nothing about the rest of the store:

- ``vectors``: how many of the scope's memories have their vector in the index (the index
  asked id by id, in chunks);
- ``pending``: the outbox entries of the scope's memories (a queued removal of a memory
  already deleted belongs to no scope any more: it counts in the whole store's figure only);
- ``in_sync``: nothing pending and every memory of the scope has its vector.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_memory.store.ledger import LedgerStore
from mcp_memory.store.records import MemoryFilter
from mcp_memory.store.vectors import VectorIndex

CHUNK = 5_000


@dataclass(frozen=True)
class IndexFigures:
    vectors: int
    pending: int
    in_sync: bool


def index_figures(ledger: LedgerStore, index: VectorIndex, flt: MemoryFilter) -> IndexFigures:
    """The index figures of the memories ``flt`` selects by scope (its other fields unused)."""
    scope = MemoryFilter(scope=flt.scope)
    if not any(flt.scope.model_dump().values()):
        vectors, pending = index.count(), ledger.count_pending()
        return IndexFigures(vectors, pending, pending == 0 and vectors == ledger.count(scope))
    ids = ledger.ids(scope)
    vectors = sum(
        len(index.existing_ids(ids[start : start + CHUNK])) for start in range(0, len(ids), CHUNK)
    )
    queued = [memory_id for memory_id, _ in ledger.pending_index()]
    pending = len(ledger.filter_ids(queued, scope)) if queued else 0
    return IndexFigures(vectors, pending, pending == 0 and vectors == len(ids))

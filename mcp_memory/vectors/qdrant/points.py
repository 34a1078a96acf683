"""What both Qdrant indexes (embedded and server) store: point ids, payloads, collection settings.

Qdrant names a point by an unsigned integer or a UUID, while a memory id is any 1-64 letters,
digits, '-' or '_' (an imported id keeps its own). So a point's id is the UUIDv5 of the memory
id (``point_id``), and the memory id travels in the payload, beside the scope ids a search
filters on (each with a keyword index) and its creation time (with a datetime index).
``PointReads`` holds the reads both do alike. Nothing here imports a Qdrant package.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcp_memory.store.vectors import VectorBlock, VectorRecord

MEMORY_ID = "memory_id"
SCOPE_KEYS = ("user_id", "agent_id", "session_id")
# When the memory was made (RFC 3339), under a datetime index: for date filters run on the
# collection itself (an operator's, or another tool's); searches narrow dates in the ledger.
CREATED_AT = "created_at"
# Fixed forever: every stored point id is derived with it.
NAMESPACE = uuid.UUID("5b0e3c53-6a43-4f7e-9d0f-2f6f8f1c0a11")
PAGE = 4096


@dataclass(frozen=True)
class CollectionConfig:
    """What a new Qdrant collection is created with (``[vector.qdrant]``); the search-time
    ``hnsw_ef`` applies to every search. Thresholds in KB of vectors, as Qdrant counts."""

    hnsw_m: int = 16
    hnsw_ef_construct: int = 128
    hnsw_ef: int = 128
    full_scan_threshold: int = 10_000
    default_segment_number: int = 2
    indexing_threshold: int = 10_000


DEFAULT_CONFIG = CollectionConfig()


def point_id(memory_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, memory_id))


def point_ids(memory_ids: Sequence[str]) -> dict[str, str]:
    """Point id -> memory id, for the memory ids given."""
    return {point_id(i): i for i in memory_ids}


def payload(record: VectorRecord) -> dict[str, str]:
    values = {
        MEMORY_ID: record.id,
        "user_id": record.user_id,
        "agent_id": record.agent_id,
        "session_id": record.session_id,
    }
    if record.created_at:
        values[CREATED_AT] = record.created_at
    return values


def scope_terms(scope: dict[str, str] | None) -> list[tuple[str, str]]:
    """The (key, value) pairs a search must match: the scope ids that are set."""
    return [(key, value) for key, value in (scope or {}).items() if key in SCOPE_KEYS and value]


def pages(items: Sequence[str], size: int = PAGE) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class PointReads:
    """What both Qdrant indexes read the same way, over the engine's own ``_records``: each
    found point of some memory ids, beside its memory id (``retrieved``)."""

    def _records(self, ids: Sequence[str], with_vector: bool) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def read_scope(
        self, scope: dict[str, str] | None = None, ids: Sequence[str] | None = None
    ) -> VectorBlock | None:
        """None: a filtered Qdrant search (``query``) is the exact path here."""
        return None

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {
            memory_id: np.asarray(record.vector, dtype=np.float32)
            for memory_id, record in self._records(ids, with_vector=True)
        }

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {memory_id for memory_id, _ in self._records(ids, with_vector=False)}


def retrieved(
    ids: Sequence[str], retrieve: Callable[[list[str]], Iterable[Any]]
) -> list[tuple[str, Any]]:
    """The points ``retrieve`` finds for these memory ids, a page of point ids at a time, each
    beside its memory id."""
    found = []
    for chunk in pages(ids):
        by_point = point_ids(chunk)
        found += [(by_point[str(r.id)], r) for r in retrieve(list(by_point))]
    return found


def scrolled(next_page: Callable[[Any], tuple[Sequence[Any], Any]]) -> list[str]:
    """Every memory id of an index, page by page: ``next_page(offset)`` gives a page of points
    (with the memory id in their payload) and the next offset, None after the last."""
    ids: list[str] = []
    offset = None
    while True:
        records, offset = next_page(offset)
        ids += [r.payload[MEMORY_ID] for r in records]
        if offset is None:
            return ids

"""Consolidation planning: which memories of one scope merge, and what the merged memory is.

Pure functions: they take memories, their vectors and thresholds, and return a plan. The
service applies the plan (or, for a dry run, only reports it).

Merge rules (shared/DESIGN.md section 4): exact duplicates (same normalised text) and near
duplicates (cosine >= threshold) merge into the oldest memory of the group, which keeps the
richest text, the highest importance, the union of metadata (the older value wins a key
conflict), the summed access count and the latest access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from mcp_memory.models import Memory, Retention, Stage
from mcp_memory.validation import content_hash

_TIER_RANK = {r: i for i, r in enumerate(Retention)}
_STAGE_RANK = {s: i for i, s in enumerate(Stage)}


@dataclass(frozen=True)
class Merge:
    """Memories to fold into ``keep``: the oldest of the group."""

    keep: str
    absorbed: tuple[str, ...]
    kind: str  # "exact" or "near"
    similarity: float = 1.0


def plan_merges(
    memories: Sequence[Memory], vectors: dict[str, np.ndarray], near_threshold: float
) -> list[Merge]:
    """Exact then near duplicate groups among memories of one scope, oldest first.

    ``memories`` come in insertion order; the sort is stable, so equal times keep that order.
    """
    ordered = sorted(memories, key=lambda m: m.created_at)
    merges: list[Merge] = []
    by_hash: dict[str, list[Memory]] = {}
    for memory in ordered:
        by_hash.setdefault(content_hash(memory.content), []).append(memory)
    survivors = []
    for group in by_hash.values():
        survivors.append(group[0])
        if len(group) > 1:
            merges.append(Merge(group[0].id, tuple(m.id for m in group[1:]), "exact"))
    survivors.sort(key=lambda m: m.created_at)
    merges.extend(_near_groups([m for m in survivors if m.id in vectors], vectors, near_threshold))
    return merges


def _near_groups(
    memories: Sequence[Memory], vectors: dict[str, np.ndarray], threshold: float
) -> list[Merge]:
    if len(memories) < 2:
        return []
    matrix = np.stack([vectors[m.id] for m in memories])
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12
    taken = np.zeros(len(memories), dtype=bool)
    merges = []
    for i in range(len(memories)):
        if taken[i]:
            continue
        sims = matrix[i + 1 :] @ matrix[i]
        close = [i + 1 + j for j in np.flatnonzero(sims >= threshold) if not taken[i + 1 + j]]
        if close:
            taken[close] = True
            merges.append(
                Merge(
                    memories[i].id,
                    tuple(memories[j].id for j in close),
                    "near",
                    float(sims[[j - i - 1 for j in close]].min()),
                )
            )
    return merges


def merged(keep: Memory, absorbed: Sequence[Memory], now: datetime) -> Memory:
    """The memory that results from folding ``absorbed`` into ``keep``."""
    group = [keep, *absorbed]
    metadata: dict = {}
    for memory in reversed(group):
        metadata.update(memory.metadata)
    accessed = [m.last_accessed for m in group if m.last_accessed]
    return keep.model_copy(
        update={
            "content": max(group, key=lambda m: (len(m.content), m is keep)).content,
            "importance_score": max(m.importance_score for m in group),
            "metadata": metadata,
            "access_count": sum(m.access_count for m in group),
            "last_accessed": max(accessed) if accessed else None,
            "retention": max((m.retention for m in group), key=_TIER_RANK.__getitem__),
            "lifecycle_stage": min((m.lifecycle_stage for m in group), key=_STAGE_RANK.__getitem__),
            "updated_at": now,
            "version": keep.version + 1,
        }
    )

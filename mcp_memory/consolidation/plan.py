"""Consolidation planning: what one run does to the memories of one scope, as a list of actions.

Pure functions: they take the memories of a scope, their vectors, what the ledger knows of their
accesses and past runs, the time and the policy, and return the actions in the order they apply
(shared/DESIGN.md section 4). The service applies the list or, for a dry run, only reports it;
both use the same list, so a dry run reports exactly what a real run would do.

Order: exact duplicates, near duplicates (cosine), redundancy (word Jaccard), access boost,
decay, stage update, archive (by age, then by count), cleanup. Each step sees the memories as the
steps before left them. Merge rules: a group of duplicates folds into its oldest memory, which
keeps the richest text, the highest importance, the union of metadata (the older value wins a
key conflict), the summed access count and the latest access. A redundant text folds the same
way into the richer one (more distinct words), keeping that one's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mcp_memory.config import ConsolidationSettings, RetentionSettings
from mcp_memory.models import ConsolidationAction, Memory, Retention, Stage
from mcp_memory.policy import lifecycle
from mcp_memory.policy.validation import content_hash, noise, normalise_text
from mcp_memory.tokens import tokens

_TIER_RANK = {r: i for i, r in enumerate(Retention)}
_STAGE_RANK = {s: i for i, s in enumerate(Stage)}

MERGE, REDUNDANT, BOOST, DECAY, STAGE, ARCHIVE, DELETE = (
    "merge",
    "remove_redundant",
    "boost",
    "decay",
    "stage",
    "archive",
    "delete",
)


@dataclass(frozen=True)
class Merge:
    """Memories to fold into ``keep``: the oldest of the group."""

    keep: str
    absorbed: tuple[str, ...]
    kind: str  # "exact" or "near"
    similarity: float = 1.0


@dataclass(frozen=True)
class Facts:
    """What the ledger knows of a memory beyond its row, for planning."""

    recent_accesses: int = 0  # accesses in the boost window since its last boost
    decayed_at_age: float | None = None  # its age in days when it last decayed
    restored_at: datetime | None = None  # stages count from here when later than created_at
    archived_at: datetime | None = None  # when it was last archived


@dataclass(frozen=True)
class Action:
    """One planned change: ``memory_id`` goes from ``before`` to ``after`` (None: deleted);
    ``removed`` are the memories it absorbed (for a merge), as they were."""

    kind: str
    memory_id: str
    before: Memory
    after: Memory | None
    removed: tuple[Memory, ...] = ()
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def public(self) -> ConsolidationAction:
        """The action as the consolidate reply shows it: the fields it changes, before/after.

        Access counts are left out, so that reads between a dry run and a real run (which
        count as accesses) do not make their reports differ; the journal keeps them."""
        keys = _SHOWN[self.kind]
        return ConsolidationAction(
            action=self.kind,
            memory_id=self.memory_id,
            other_ids=[m.id for m in self.removed],
            before=_fields(self.before, keys),
            after={} if self.after is None else _fields(self.after, keys),
            reason=self.reason,
        )


_MERGED_FIELDS = ("content", "importance_score", "metadata", "lifecycle_stage")
_SHOWN = {
    MERGE: _MERGED_FIELDS,
    REDUNDANT: _MERGED_FIELDS,
    BOOST: ("importance_score",),
    DECAY: ("importance_score",),
    STAGE: ("lifecycle_stage",),
    ARCHIVE: ("lifecycle_stage",),
    DELETE: ("content", "importance_score", "lifecycle_stage"),
}


def _fields(memory: Memory, keys: Sequence[str]) -> dict[str, Any]:
    return memory.model_dump(mode="json", include=set(keys))


def plan(
    memories: Sequence[Memory],
    vectors: dict[str, np.ndarray],
    facts: dict[str, Facts],
    now: datetime,
    retention: RetentionSettings,
    rules: ConsolidationSettings,
) -> list[Action]:
    """Every action of one run over one scope's memories (archived ones included), in order."""
    state = {m.id: m for m in memories}
    actions: list[Action] = []
    _merge_step(state, vectors, now, rules, actions)
    _redundancy_step(state, now, rules, actions)
    for memory in list(state.values()):
        _boost(memory, facts.get(memory.id, Facts()), now, rules, state, actions)
    for memory in list(state.values()):
        _decay(memory, facts.get(memory.id, Facts()), now, retention, rules, state, actions)
    _stage_step(state, facts, now, retention, actions)
    _count_step(state, now, retention, actions)
    last_change = {m.id: m.updated_at for m in memories}
    _cleanup_step(state, facts, last_change, now, rules, actions)
    return actions


def _live(state: dict[str, Memory]) -> list[Memory]:
    return [m for m in state.values() if m.lifecycle_stage != Stage.archived]


def _change(memory: Memory, now: datetime, **changes: Any) -> Memory:
    return memory.model_copy(update={**changes, "updated_at": now, "version": memory.version + 1})


def _merge_step(state, vectors, now, rules, actions) -> None:
    for group in plan_merges(_live(state), vectors, rules.near_duplicate_threshold):
        keep = state[group.keep]
        absorbed = tuple(state.pop(i) for i in group.absorbed)
        new = merged(keep, absorbed, now)
        reason = "exact duplicate"
        details: dict[str, Any] = {"kind": group.kind}
        if group.kind == "near":
            reason = f"near duplicate (cosine {group.similarity:.3f})"
            details["similarity"] = round(group.similarity, 6)
        actions.append(Action(MERGE, keep.id, keep, new, absorbed, reason, details))
        state[keep.id] = new


def _redundancy_step(state, now, rules, actions) -> None:
    for keep_id, removed_ids, jaccard in plan_redundant(_live(state), rules.redundancy_jaccard):
        keep = state[keep_id]
        removed = tuple(state.pop(i) for i in removed_ids)
        new = merged(keep, removed, now).model_copy(update={"content": keep.content})
        reason = f"redundant with a richer text (word Jaccard {jaccard:.3f})"
        details = {"kind": "redundant", "jaccard": round(jaccard, 6)}
        actions.append(Action(REDUNDANT, keep.id, keep, new, removed, reason, details))
        state[keep.id] = new


def _boost(memory, facts, now, rules, state, actions) -> None:
    if memory.lifecycle_stage == Stage.archived:
        return
    if facts.recent_accesses <= rules.boost_min_accesses:
        return
    score = round(min(1.0, memory.importance_score + rules.boost_amount), 6)
    if score <= memory.importance_score:
        return
    new = _change(memory, now, importance_score=score)
    reason = f"{facts.recent_accesses} accesses in {rules.boost_window_days:g} days"
    details = {"accesses": facts.recent_accesses}
    actions.append(Action(BOOST, memory.id, memory, new, (), reason, details))
    state[memory.id] = new


def _decay(memory, facts, now, retention, rules, state, actions) -> None:
    if lifecycle.limits_for(memory, retention).max_age_days is None:
        return  # a type that never ages does not decay either
    age = lifecycle.age_days(memory.created_at, now)
    score = lifecycle.decayed(
        memory.importance_score, age, facts.decayed_at_age,
        rules.decay_after_days, rules.decay_rate, rules.decay_floor,
    )  # fmt: skip
    if memory.importance_score - score < max(rules.decay_min_change, 1e-9):
        return
    new = _change(memory, now, importance_score=score)
    reason = f"{age:.0f} days old"
    actions.append(Action(DECAY, memory.id, memory, new, (), reason, {"age_days": round(age, 6)}))
    state[memory.id] = new


def _stage_step(state, facts, now, retention, actions) -> None:
    """Stages from age (counted from a restore, if later); past the whole age: archive."""
    archive = []
    for memory in _live(state):
        limits = lifecycle.limits_for(memory, retention)
        restored = facts.get(memory.id, Facts()).restored_at
        since = max(memory.created_at, restored) if restored else memory.created_at
        stage = lifecycle.stage_at(lifecycle.age_days(since, now), limits.max_age_days, retention)
        if stage == Stage.archived:
            archive.append((memory, f"older than its {limits.max_age_days:g}-day limit"))
        elif stage != memory.lifecycle_stage:
            new = _change(memory, now, lifecycle_stage=stage)
            actions.append(Action(STAGE, memory.id, memory, new, (), f"{stage.value} by age"))
            state[memory.id] = new
    for memory, reason in archive:
        _archive(state[memory.id], reason, now, state, actions)


def _archive(memory, reason, now, state, actions) -> None:
    new = _change(memory, now, lifecycle_stage=Stage.archived)
    actions.append(Action(ARCHIVE, memory.id, memory, new, (), reason))
    state[memory.id] = new


def _count_step(state, now, retention, actions) -> None:
    """Where a tier holds more memories than its count limit, archive the least important."""
    groups: dict[tuple[Retention, str], tuple[int, list[Memory]]] = {}
    for memory in _live(state):
        limits = lifecycle.limits_for(memory, retention)
        key = (memory.retention, limits.count_group)
        groups.setdefault(key, (limits.max_count, []))[1].append(memory)
    for (tier, _), (limit, members) in groups.items():
        if len(members) <= limit:
            continue
        members.sort(key=lambda m: (m.importance_score, m.created_at))
        for memory in members[: len(members) - limit]:
            reason = f"scope holds {len(members)} {tier.value} memories, over {limit}"
            _archive(memory, reason, now, state, actions)


def _cleanup_step(state, facts, last_change, now, rules, actions) -> None:
    """Delete memories archived for cleanup_after_days whose importance is under the floor
    (archived when their last ARCHIVE event says, or else at their last change before now)."""
    archived_now = {a.memory_id for a in actions if a.kind == ARCHIVE}
    for memory in list(state.values()):
        if memory.lifecycle_stage != Stage.archived:
            continue
        since = now if memory.id in archived_now else facts.get(memory.id, Facts()).archived_at
        days = lifecycle.age_days(since or last_change[memory.id], now)
        low = memory.importance_score < rules.cleanup_importance_below
        if low and days >= rules.cleanup_after_days:
            reason = f"archived {days:.0f} days, importance {memory.importance_score:g}"
            actions.append(Action(DELETE, memory.id, memory, None, (), reason))
            del state[memory.id]


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
    matrix = np.stack([np.asarray(vectors[m.id], dtype=np.float64) for m in memories])
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


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def plan_redundant(
    memories: Sequence[Memory], threshold: float
) -> list[tuple[str, tuple[str, ...], float]]:
    """(kept id, removed ids, lowest Jaccard) groups: texts whose word sets overlap at least
    ``threshold`` fold into the richest (most distinct words, then longest, then oldest)."""
    words = {m.id: frozenset(tokens(m.content)) for m in memories}
    order = sorted(
        range(len(memories)),
        key=lambda i: (-len(words[memories[i].id]), -len(memories[i].content), i),
    )
    taken: set[str] = set()
    groups = []
    for pos, i in enumerate(order):
        keep = memories[i]
        if keep.id in taken:
            continue
        removed, lowest = [], 1.0
        for j in order[pos + 1 :]:
            other = memories[j]
            if other.id in taken:
                continue
            if len(words[other.id]) < threshold * len(words[keep.id]):
                break  # sorted by size: no smaller set can reach the threshold
            score = jaccard(words[keep.id], words[other.id])
            if score >= threshold:
                removed.append(other.id)
                lowest = min(lowest, score)
        if removed:
            taken.update(removed)
            groups.append((keep.id, tuple(removed), lowest))
    return groups


def _richness(memory: Memory, keep: Memory) -> tuple[int, int, bool]:
    """Which text a merge keeps: the most text once normalised, then (of exact duplicates)
    the least noisy form ("peanuts." over "peanuts!!"), then the kept memory's."""
    return len(normalise_text(memory.content)), -noise(memory.content), memory is keep


def merged(keep: Memory, absorbed: Sequence[Memory], now: datetime) -> Memory:
    """The memory that results from folding ``absorbed`` into ``keep``."""
    group = [keep, *absorbed]
    metadata: dict = {}
    for memory in reversed(group):
        metadata.update(memory.metadata)
    accessed = [m.last_accessed for m in group if m.last_accessed]
    return keep.model_copy(
        update={
            "content": max(group, key=lambda m: _richness(m, keep)).content,
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

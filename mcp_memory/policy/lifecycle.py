"""Lifecycle: retention tiers, stages and decay, as pure functions of a memory and the time.

A memory takes the highest tier whose importance threshold it reaches (unless given one). Its
tier sets how long it lives and how many memories of that tier a scope may hold; per-type and
per-session overrides (``RetentionSettings.overrides``) replace parts of that, e.g. procedural
memories that never age or session memories that expire in a day. Its stage follows its age as
a share of the maximum age: active, aging past ``aging_at``, archiving_soon past
``archiving_soon_at``, archived past the whole age. Stages only move when consolidation runs;
adding and searching never archive anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mcp_memory.config import RetentionSettings, TierSettings
from mcp_memory.models import Memory, Retention, Stage

TIERS_HIGH_TO_LOW = (
    Retention.long_term,
    Retention.medium_term,
    Retention.short_term,
    Retention.ephemeral,
)
DAY = 86400.0


def tier(policy: RetentionSettings, retention: Retention) -> TierSettings:
    return getattr(policy, retention.value)


def retention_for(importance: float, policy: RetentionSettings) -> Retention:
    """The highest tier whose threshold the importance reaches (ephemeral at worst)."""
    for name in TIERS_HIGH_TO_LOW:
        if importance >= tier(policy, name).threshold:
            return name
    return Retention.ephemeral


@dataclass(frozen=True)
class Limits:
    """The age and count limits that apply to one memory after overrides."""

    max_age_days: float | None  # None: never ages
    max_count: int
    count_group: str  # memories share a count limit when tier, scope and this agree


def limits_for(memory: Memory, policy: RetentionSettings) -> Limits:
    """The memory's tier limits, overridden by 'session' (if it has one), then by its type."""
    base = tier(policy, memory.retention)
    age: float | None = base.max_age_days
    count, group = base.max_count, ""
    keys = (["session"] if memory.session_id else []) + [memory.memory_type.value]
    for key in keys:
        override = policy.overrides.get(key)
        if override is None:
            continue
        if override.max_age_days is not None:
            age = override.max_age_days
        if override.max_count is not None:
            count, group = override.max_count, key
        if override.never_age:
            age = None
    return Limits(age, count, group)


def age_days(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds() / DAY


def stage_at(age: float, max_age_days: float | None, policy: RetentionSettings) -> Stage:
    """The stage for an age (days) under a maximum age (None: never ages)."""
    if max_age_days is None:
        return Stage.active
    share = age / max_age_days
    if share >= 1:
        return Stage.archived
    if share >= policy.archiving_soon_at:
        return Stage.archiving_soon
    if share >= policy.aging_at:
        return Stage.aging
    return Stage.active


def stage_for(
    created_at: datetime, retention: Retention, now: datetime, policy: RetentionSettings
) -> Stage:
    """The stage a memory of this age and tier should be in (no overrides)."""
    return stage_at(age_days(created_at, now), tier(policy, retention).max_age_days, policy)


def decay_factor(age: float, after_days: float, rate: float) -> float:
    """1 up to ``after_days``; then 1 - rate x age/after_days, never below 0."""
    if age <= after_days:
        return 1.0
    return max(0.0, 1.0 - rate * age / after_days)


def decayed(
    importance: float,
    age: float,
    decayed_at_age: float | None,
    after_days: float,
    rate: float,
    floor: float,
) -> float:
    """Importance after decay at this age, given the age it was last decayed at.

    The factor applied is the ratio of the decay factors now and at the last decay, so that
    running consolidation often or rarely gives the same importance: a memory decays to
    ``importance x (1 - rate x age/after_days)`` once, not that much again at each run. Decay
    never lowers importance below ``floor`` (nor raises one already under it).
    """
    now_factor = decay_factor(age, after_days, rate)
    before = 1.0 if decayed_at_age is None else decay_factor(decayed_at_age, after_days, rate)
    target = 0.0 if before <= 0 else importance * now_factor / before
    return round(max(min(importance, floor), min(importance, target)), 6)

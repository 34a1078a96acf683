"""Lifecycle: retention tiers and stages, as pure functions of a memory and the time.

A memory takes the highest tier whose importance threshold it reaches (unless given one). Its
stage follows its age as a share of the tier's maximum age: active, aging past
``aging_at``, archiving_soon past ``archiving_soon_at``, archived past the whole age. Stages only
move when consolidation runs; adding and searching never archive anything.
"""

from __future__ import annotations

from datetime import datetime

from mcp_memory.config import RetentionSettings, TierSettings
from mcp_memory.models import Retention, Stage

TIERS_HIGH_TO_LOW = (
    Retention.long_term,
    Retention.medium_term,
    Retention.short_term,
    Retention.ephemeral,
)


def tier(policy: RetentionSettings, retention: Retention) -> TierSettings:
    return getattr(policy, retention.value)


def retention_for(importance: float, policy: RetentionSettings) -> Retention:
    """The highest tier whose threshold the importance reaches (ephemeral at worst)."""
    for name in TIERS_HIGH_TO_LOW:
        if importance >= tier(policy, name).threshold:
            return name
    return Retention.ephemeral


def stage_for(
    created_at: datetime, retention: Retention, now: datetime, policy: RetentionSettings
) -> Stage:
    """The stage a memory of this age and tier should be in."""
    max_age = tier(policy, retention).max_age_days
    share = (now - created_at).total_seconds() / 86400 / max_age
    if share >= 1:
        return Stage.archived
    if share >= policy.archiving_soon_at:
        return Stage.archiving_soon
    if share >= policy.aging_at:
        return Stage.aging
    return Stage.active

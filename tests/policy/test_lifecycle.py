"""Lifecycle and consolidation planning as pure functions: tiers, stages, decay, boost, merges,
count limits, cleanup and per-type overrides. Vectors here are hand-made unit vectors whose
cosines are known exactly; the real model is exercised in test_consolidation_service.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mcp_memory.config import (
    ConsolidationSettings,
    ImportanceSettings,
    RetentionSettings,
    TierOverride,
    load_settings,
)
from mcp_memory.consolidation import plan
from mcp_memory.errors import ConfigError
from mcp_memory.models import Memory, Retention, Stage
from mcp_memory.policy import lifecycle
from mcp_memory.policy.importance import importance_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RET = RetentionSettings()
RULES = ConsolidationSettings()


def mem(mid: str, content: str = "", days_old: float = 0, **fields) -> Memory:
    created = NOW - timedelta(days=days_old)
    base = dict(
        id=mid,
        content=content or f"memory {mid} about something specific",
        memory_type="semantic",
        category="general",
        metadata={},
        importance_score=0.5,
        retention="medium_term",
        lifecycle_stage="active",
        access_count=0,
        created_at=created,
        updated_at=created,
        version=1,
    )
    return Memory(**{**base, **fields})


def unit(angle: float) -> np.ndarray:
    """A 2-d unit vector; two of them have cosine cos(a1 - a2)."""
    return np.array([math.cos(angle), math.sin(angle)])


def kinds(actions):
    return [(a.kind, a.memory_id) for a in actions]


# -- importance and tiers ---------------------------------------------------------------------


def test_importance_heuristics_follow_the_settings():
    policy = ImportanceSettings()
    assert importance_of("Lives in Paris", "fact", policy) == pytest.approx(0.7)  # short
    assert importance_of("I love hiking", "experience", policy) == pytest.approx(0.8)
    long_text = " ".join(["word"] * 51)
    assert importance_of(long_text, "general", policy) == pytest.approx(0.6)
    medium = "one two three four five six seven eight nine ten"
    assert importance_of(medium, "general", policy) == pytest.approx(0.5)
    custom = policy.model_copy(update={"strong_words": ["banana"], "strong_word_boost": 0.05})
    assert importance_of(medium + " banana", "general", custom) == pytest.approx(0.55)


@pytest.mark.parametrize(
    ("importance", "tier"),
    [
        (0.0, Retention.ephemeral),
        (0.1, Retention.ephemeral),
        (0.29, Retention.ephemeral),
        (0.3, Retention.short_term),
        (0.49, Retention.short_term),
        (0.5, Retention.medium_term),
        (0.69, Retention.medium_term),
        (0.7, Retention.long_term),
        (1.0, Retention.long_term),
    ],
)
def test_tier_is_the_highest_whose_threshold_importance_reaches(importance, tier):
    assert lifecycle.retention_for(importance, RET) == tier


# -- stages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "stage"),
    [
        (14.99, Stage.active),
        (15.0, Stage.aging),
        (26.99, Stage.aging),
        (27.0, Stage.archiving_soon),
        (29.99, Stage.archiving_soon),
        (30.0, Stage.archived),
    ],
)
def test_each_stage_boundary_of_a_30_day_tier(days, stage):
    created = NOW - timedelta(days=days)
    assert lifecycle.stage_for(created, Retention.medium_term, NOW, RET) == stage


def test_overrides_per_type_and_for_sessions():
    policy = RetentionSettings(
        overrides={
            "procedural": TierOverride(never_age=True),
            "session": TierOverride(max_age_days=1, max_count=3),
            "episodic": TierOverride(max_age_days=10),
        }
    )
    procedural = mem("p", memory_type="procedural", session_id="s", retention="ephemeral")
    assert lifecycle.limits_for(procedural, policy).max_age_days is None
    in_session = mem("s", session_id="s", retention="long_term")
    assert lifecycle.limits_for(in_session, policy) == lifecycle.Limits(1, 3, "session")
    episodic_in_session = mem("e", memory_type="episodic", session_id="s")
    assert lifecycle.limits_for(episodic_in_session, policy).max_age_days == 10  # type wins
    plain = mem("x", retention="long_term")
    assert lifecycle.limits_for(plain, policy) == lifecycle.Limits(365, 1000, "")


def test_unknown_override_key_is_refused(monkeypatch):
    monkeypatch.setenv("MCP_MEMORY_RETENTION__OVERRIDES__PROCEDURE__NEVER_AGE", "true")
    with pytest.raises(ConfigError, match="overrides keys must be"):
        load_settings()


def test_override_from_environment(monkeypatch):
    monkeypatch.setenv("MCP_MEMORY_RETENTION__OVERRIDES__PROCEDURAL__NEVER_AGE", "true")
    monkeypatch.setenv("MCP_MEMORY_CONSOLIDATION__SCHEDULE__EVERY_HOURS", "6")
    settings = load_settings()
    assert settings.retention.overrides["procedural"].never_age is True
    assert settings.consolidation.schedule.every_hours == 6


# -- decay ------------------------------------------------------------------------------------


def test_decay_arithmetic_and_floor():
    assert lifecycle.decayed(0.8, 90, None, 90, 0.05, 0.1) == 0.8  # not older than 90 days
    assert lifecycle.decayed(0.8, 180, None, 90, 0.05, 0.1) == pytest.approx(0.8 * 0.9)
    assert lifecycle.decayed(0.8, 270, None, 90, 0.05, 0.1) == pytest.approx(0.8 * 0.85)
    assert lifecycle.decayed(0.5, 90 * 19, None, 90, 0.05, 0.1) == pytest.approx(0.1)  # floor
    assert lifecycle.decayed(0.05, 400, None, 90, 0.05, 0.1) == 0.05  # never raised to floor


def test_decay_does_not_compound_across_runs():
    first = lifecycle.decayed(0.8, 180, None, 90, 0.05, 0.1)
    assert lifecycle.decayed(first, 180, 180, 90, 0.05, 0.1) == first  # same age: no change
    later = lifecycle.decayed(first, 270, 180, 90, 0.05, 0.1)
    assert later == pytest.approx(0.8 * 0.85, abs=1e-6)  # as if decayed once at 270 days


def test_plan_decays_old_memories_and_exempts_never_aging_types():
    old = mem("a", days_old=200, importance_score=0.8, retention="long_term")
    procedural = mem("b", days_old=200, importance_score=0.8, retention="long_term",
                     memory_type="procedural")  # fmt: skip
    policy = RetentionSettings(overrides={"procedural": TierOverride(never_age=True)})
    actions = plan.plan([old, procedural], {}, {}, NOW, policy, RULES)
    assert kinds(actions) == [("decay", "a"), ("stage", "a")]
    assert actions[0].after.importance_score == pytest.approx(0.8 * (1 - 0.05 * 200 / 90))
    assert actions[1].after.lifecycle_stage == Stage.aging  # 200 of 365 days


# -- boost ------------------------------------------------------------------------------------


def test_boost_needs_more_than_the_minimum_accesses():
    five, six = mem("a", importance_score=0.5), mem("b", importance_score=0.95)
    facts = {
        "a": plan.Facts(recent_accesses=5),
        "b": plan.Facts(recent_accesses=6),
    }
    actions = plan.plan([five, six], {}, facts, NOW, RET, RULES)
    assert kinds(actions) == [("boost", "b")]
    assert actions[0].after.importance_score == 1.0  # capped


# -- merges -----------------------------------------------------------------------------------


def test_merge_keeps_oldest_id_highest_importance_union_metadata_summed_accesses():
    old = mem("old", "The dog is called Rex", days_old=3, importance_score=0.4,
              metadata={"a": 1, "k": "old"}, access_count=2)  # fmt: skip
    new = mem("new", "The dog is called Rex, a beagle", days_old=1, importance_score=0.9,
              metadata={"b": 2, "k": "new"}, access_count=3, retention="long_term")  # fmt: skip
    vectors = {"old": unit(0.0), "new": unit(0.1)}
    [action] = plan.plan([new, old], vectors, {}, NOW, RET, RULES)
    assert action.kind == "merge" and action.memory_id == "old"
    assert [m.id for m in action.removed] == ["new"]
    kept = action.after
    assert kept.content == "The dog is called Rex, a beagle"  # the richer text
    assert kept.importance_score == 0.9 and kept.access_count == 5
    assert kept.metadata == {"a": 1, "b": 2, "k": "old"}
    assert kept.created_at == old.created_at and kept.retention == Retention.long_term
    assert kept.version == 2


def test_exact_duplicates_merge_whatever_the_vectors():
    a = mem("a", "Likes tea", days_old=2)
    b = mem("b", "  likes   TEA ", days_old=1)
    [action] = plan.plan([a, b], {}, {}, NOW, RET, RULES)
    assert (action.kind, action.memory_id, action.reason) == ("merge", "a", "exact duplicate")


def test_exact_duplicates_keep_the_least_noisy_form():
    """Trailing full stops and exclamation marks do not make another memory; the merge keeps
    the cleanest form, the oldest one of equally clean forms."""
    texts = ["I am allergic to peanuts!!", "i am allergic to  peanuts.", "I am allergic to peanuts"]
    group = [mem(f"m{n}", t, days_old=3 - n) for n, t in enumerate(texts)]
    [action] = plan.plan(group, {}, {}, NOW, RET, RULES)
    assert (action.memory_id, action.reason) == ("m0", "exact duplicate")
    assert action.after.content == "I am allergic to peanuts"
    loud, stop = mem("a", "Peanuts!!", days_old=2), mem("b", "Peanuts.", days_old=1)
    [action] = plan.plan([loud, stop], {}, {}, NOW, RET, RULES)
    assert (action.memory_id, action.after.content) == ("a", "Peanuts.")


def test_near_duplicate_threshold_is_inclusive_and_a_pair_just_under_stays():
    angle = math.acos(0.85)
    a, b = mem("a", "alpha text one", days_old=2), mem("b", "beta words two", days_old=1)
    at = {"a": unit(0.0), "b": unit(angle - 1e-9)}
    under = {"a": unit(0.0), "b": unit(math.acos(0.849))}
    assert kinds(plan.plan([a, b], at, {}, NOW, RET, RULES)) == [("merge", "a")]
    assert plan.plan([a, b], under, {}, NOW, RET, RULES) == []


def test_redundancy_at_the_jaccard_threshold_folds_into_the_richer_text():
    words = [f"w{i}" for i in range(9)]
    poor = mem("poor", " ".join(words), days_old=5, importance_score=0.8)
    rich = mem("rich", " ".join([*words, "extra"]), days_old=1)  # Jaccard 9/10 = 0.9
    far = {"poor": unit(0.0), "rich": unit(1.5)}  # not near duplicates
    [action] = plan.plan([poor, rich], far, {}, NOW, RET, RULES)
    assert (action.kind, action.memory_id) == ("remove_redundant", "rich")
    assert [m.id for m in action.removed] == ["poor"]
    assert action.after.content == rich.content and action.after.importance_score == 0.8


def test_redundancy_just_under_the_threshold_keeps_both():
    words = [f"w{i}" for i in range(8)]
    a = mem("a", " ".join(words))
    b = mem("b", " ".join([*words, "extra"]))  # Jaccard 8/9 = 0.889
    assert plan.plan([a, b], {"a": unit(0), "b": unit(1.5)}, {}, NOW, RET, RULES) == []


def test_archived_memories_are_not_merged():
    a = mem("a", "Same text", lifecycle_stage="archived", importance_score=0.9)
    b = mem("b", "Same text", days_old=0)
    assert plan.plan([a, b], {}, {}, NOW, RET, RULES) == []


# -- stages, archive, count limits, cleanup ---------------------------------------------------


def test_stage_and_archive_by_age_count_from_a_restore():
    aging = mem("a", days_old=20)  # medium_term, 30 days
    expired = mem("b", days_old=31)
    restored = mem("c", days_old=31)
    facts = {"c": plan.Facts(restored_at=NOW - timedelta(days=1))}
    actions = plan.plan([aging, expired, restored], {}, facts, NOW, RET, RULES)
    assert kinds(actions) == [("stage", "a"), ("archive", "b")]
    assert actions[0].after.lifecycle_stage == Stage.aging
    assert actions[1].after.lifecycle_stage == Stage.archived


def test_over_count_scope_archives_its_least_important_first():
    policy = RET.model_copy(
        update={"short_term": RET.short_term.model_copy(update={"max_count": 2})}
    )
    members = [
        mem("a", retention="short_term", importance_score=0.4, days_old=1),
        mem("b", retention="short_term", importance_score=0.3, days_old=1),
        mem("c", retention="short_term", importance_score=0.45, days_old=1),
        mem("d", retention="short_term", importance_score=0.3, days_old=2),  # older tie loses
        mem("e", retention="medium_term", importance_score=0.1, days_old=1),  # other tier
    ]
    actions = plan.plan(members, {}, {}, NOW, policy, RULES)
    assert kinds(actions) == [("archive", "d"), ("archive", "b")]
    assert all("over 2" in a.reason for a in actions)


def test_cleanup_deletes_long_archived_unimportant_memories_only():
    old_low = mem("a", lifecycle_stage="archived", importance_score=0.2, days_old=100)
    old_high = mem("b", lifecycle_stage="archived", importance_score=0.5, days_old=100)
    recent_low = mem("c", lifecycle_stage="archived", importance_score=0.2, days_old=100)
    facts = {
        "a": plan.Facts(archived_at=NOW - timedelta(days=30)),
        "b": plan.Facts(archived_at=NOW - timedelta(days=60)),
        "c": plan.Facts(archived_at=NOW - timedelta(days=29.9)),
    }
    rules = RULES.model_copy(update={"decay_after_days": 1000})
    actions = plan.plan([old_low, old_high, recent_low], {}, facts, NOW, RET, rules)
    assert kinds(actions) == [("delete", "a")]
    assert actions[0].after is None


def test_public_action_shows_only_the_fields_it_changes():
    a = mem("a", days_old=20)
    [action] = plan.plan([a], {}, {}, NOW, RET, RULES)
    public = action.public()
    assert public.before == {"lifecycle_stage": "active"}
    assert public.after == {"lifecycle_stage": "aging"}


def test_small_decay_steps_wait_and_are_caught_up_from_age():
    memory = mem("a", days_old=200, importance_score=0.8, retention="long_term")
    [first, staged] = plan.plan([memory], {}, {}, NOW, RET, RULES)
    assert first.kind == "decay"
    decayed = staged.after
    facts = {"a": plan.Facts(decayed_at_age=200)}
    later = NOW + timedelta(days=5)  # would lose 0.0022: under decay_min_change
    assert plan.plan([decayed], {}, facts, later, RET, RULES) == []
    later = NOW + timedelta(days=30)
    [step] = plan.plan([decayed], {}, facts, later, RET, RULES)
    assert step.after.importance_score == pytest.approx(0.8 * (1 - 0.05 * 230 / 90), abs=1e-5)


def test_cleanup_without_an_archive_event_counts_from_the_last_change_before_the_run():
    archived = mem("a", lifecycle_stage="archived", importance_score=0.25, days_old=200)
    actions = plan.plan([archived], {}, {}, NOW, RET, RULES)
    assert kinds(actions) == [("decay", "a"), ("delete", "a")]

"""Ranking arithmetic and importance heuristics: plain numbers, no model needed."""

from datetime import UTC, datetime, timedelta

from mcp_memory.config import ImportanceSettings, RankingSettings
from mcp_memory.scoring import Candidate, importance_of, rank, recency

POLICY = ImportanceSettings()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_importance_heuristics():
    medium = "the team meets every week on monday in the large room upstairs"
    assert importance_of(medium, "general", POLICY) == 0.5
    assert importance_of(medium, "preference", POLICY) == 0.9
    assert importance_of("short note", "general", POLICY) == 0.4
    assert importance_of(medium + " which is important", "fact", POLICY) == 1.0
    long_text = " ".join(["word"] * 51)
    assert importance_of(long_text, "general", POLICY) == 0.6
    assert importance_of("hate it", "skill", POLICY) == 0.8


def test_recency_halves_per_half_life():
    assert recency(NOW, NOW, 30) == 1.0
    assert abs(recency(NOW - timedelta(days=30), NOW, 30) - 0.5) < 1e-9


def test_rank_orders_by_weighted_sum():
    weights = RankingSettings(
        semantic_weight=1, keyword_weight=0.5, importance_weight=0.1, recency_weight=0
    )
    a = Candidate("a", similarity=0.6, keyword=0.0, importance=0.5, created_at=NOW)
    b = Candidate("b", similarity=0.5, keyword=0.4, importance=0.5, created_at=NOW)
    ranked = rank([a, b], weights, NOW)
    assert [c.id for c, _ in ranked] == ["b", "a"]
    assert abs(ranked[0][1] - (0.5 + 0.2 + 0.05)) < 1e-9

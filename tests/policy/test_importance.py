"""Ranking arithmetic and importance heuristics: plain numbers, no model needed."""

from datetime import UTC, datetime, timedelta

from mcp_memory.config import ImportanceSettings
from mcp_memory.policy.importance import importance_of
from mcp_memory.search.ranking import recency

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

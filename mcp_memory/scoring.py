"""Scoring: how important a new memory is, and how a search ranks its candidates.

Pure functions over plain values; the weights come in as arguments (from ``Settings``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from mcp_memory.config import ImportanceSettings, RankingSettings

_WORD = re.compile(r"[\w']+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens: the unit of length and keyword heuristics."""
    return _WORD.findall(text.lower())


def importance_of(content: str, category: str, policy: ImportanceSettings) -> float:
    """Importance when the caller gives none: category base, strong words, length; in [0, 1]."""
    score = policy.category_base.get(category, policy.category_base.get("general", 0.5))
    tokens = words(content)
    strong = {w.lower() for w in policy.strong_words}
    if strong.intersection(tokens):
        score += policy.strong_word_boost
    if len(tokens) > policy.long_text_words:
        score += policy.long_text_boost
    elif len(tokens) < policy.short_text_words:
        score -= policy.short_text_penalty
    return round(min(1.0, max(0.0, score)), 4)


@dataclass(frozen=True)
class Candidate:
    """What ranking knows of one memory that may answer a query."""

    id: str
    similarity: float
    keyword: float
    importance: float
    created_at: datetime


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    """1 for a memory created now, halving every ``half_life_days``."""
    age_days = max(0.0, (now - created_at).total_seconds() / 86400)
    return math.pow(0.5, age_days / half_life_days)


def normalise(scores: dict[str, float]) -> dict[str, float]:
    """Scale positive scores to [0, 1] by the best one (keyword scores have no fixed range)."""
    top = max(scores.values(), default=0.0)
    return {k: (v / top if top > 0 else 0.0) for k, v in scores.items()}


def rank(
    candidates: Iterable[Candidate], weights: RankingSettings, now: datetime
) -> list[tuple[Candidate, float]]:
    """Final scores, best first: relevance (semantic + keyword), then importance and recency."""
    scored = [
        (
            c,
            weights.semantic_weight * c.similarity
            + weights.keyword_weight * c.keyword
            + weights.importance_weight * c.importance
            + weights.recency_weight * recency(c.created_at, now, weights.recency_half_life_days),
        )
        for c in candidates
    ]
    scored.sort(key=lambda pair: (-pair[1], pair[0].id))
    return scored

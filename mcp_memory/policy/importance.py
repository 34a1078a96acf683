"""How important a new memory is, when the caller does not say.

A pure function over plain values; the weights come in as arguments (from ``Settings``). How a
search ranks its candidates is ``search/ranking.py``.
"""

from __future__ import annotations

from mcp_memory.config import ImportanceSettings
from mcp_memory.tokens import tokens as word_tokens


def importance_of(content: str, category: str, policy: ImportanceSettings) -> float:
    """Importance when the caller gives none: category base, strong words, length; in [0, 1]."""
    score = policy.category_base.get(category, policy.category_base.get("general", 0.5))
    tokens = word_tokens(content)
    strong = {w.lower() for w in policy.strong_words}
    if strong.intersection(tokens):
        score += policy.strong_word_boost
    if len(tokens) > policy.long_text_words:
        score += policy.long_text_boost
    elif len(tokens) < policy.short_text_words:
        score -= policy.short_text_penalty
    return round(min(1.0, max(0.0, score)), 4)

"""Word tokens: the one tokenizer of the text heuristics (importance, redundancy, search).

A token is a run of word characters and apostrophes, lower-cased. ``words`` also trims the
apostrophes around a token (a quoted 'word' is the word) and drops tokens that were nothing
else; importance and the redundancy check count raw ``tokens``.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[\w']+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens, apostrophes kept: the unit of length and keyword heuristics."""
    return _WORD.findall(text.lower())


def words(text: str) -> list[str]:
    """Lower-cased word tokens with their surrounding apostrophes trimmed (empty ones dropped)."""
    return [w.strip("'") for w in _WORD.findall(text.lower()) if w.strip("'")]

"""What a text says, as search reads it: its terms, the names it holds, who speaks, whether
it asks for or states a time.

Pure functions of a text, cached where a search meets the same texts again and again; the
scoring that uses them is ``ranking.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mcp_memory.tokens import words

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s t don doesn didn isn wasn weren won ll ve re d m o y ever also did kind
    kinds type types thing things something anything get got go went like likely might may
    must shall much many one ones""".split()  # noqa: SIM905
)

_NAME = re.compile(r"\b([A-Z][\w'’-]*[\w])")
_SPEAKER = re.compile(r"^\s*([A-Z][\w'’.-]*(?: [A-Z][\w'’.-]*){0,2})\s*:\s")
_ASKS_WHEN = re.compile(
    r"^\s*when\b|\bwhen (?:did|does|do|was|were|is|will|has|had)\b|\bhow long\b|\bsince when\b"
    r"|\b(?:what|which) (?:year|month|date|day|week|weekend|time|season)\b"
    r"|\bhow many (?:years|months|weeks|days|hours)\b|\bhow (?:old|recently|soon)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_UNITS = r"(?:minute|hour|day|night|week|weekend|month|year|summer|winter|spring|fall|autumn)s?"
_MENTIONS_TIME = re.compile(
    rf"\b(?:{_MONTHS}|{_WEEKDAYS})\b|\b(?:1[89]|20)\d\d\b|\b\d{{1,2}}[/.-]\d{{1,2}}\b"
    r"|\b(?:yesterday|today|tonight|tomorrow|ago|recently|lately|weekend|anniversary|birthday)\b"
    rf"|\b(?:last|next|this|past|coming|few|couple of|since|for|in|every) (?:\w+ )?{_UNITS}\b"
    r"|\b(?:since|until|till) (?:i|we|my|our|the|a|last)\b"
)  # matched against lower-cased text: 3.5x faster than with re.IGNORECASE


def content_terms(text: str) -> list[str]:
    """The words of a query that carry its meaning: stopwords and one-letter words dropped."""
    terms = [w for w in words(text) if len(w) > 1 and w not in STOPWORDS]
    return list(dict.fromkeys(terms)) or list(dict.fromkeys(w for w in words(text) if len(w) > 1))


def search_terms(
    terms: Sequence[str], counts: Mapping[str, int], total: int, max_share: float
) -> list[str]:
    """The query terms a search uses: those found in at most ``max_share`` of the ``total``
    memories searched (the rarest one if none is).

    A term most memories hold says nearly nothing of a memory: its BM25 weight is 0.7 at half
    of them and 0.07 at 93%, against 3 at 5%. Yet the keyword index pays for every memory that
    holds it, both to rank them ("user" in a global query at 100k memories: 70-110 ms) and to
    tell which candidates hold it (6 ms). Left out, it neither selects nor scores: LoCoMo
    recall@10 .809 -> .810."""
    kept = [t for t in terms if counts.get(t, 0) <= max_share * total]
    if kept or not terms:
        return kept
    return [min(terms, key=lambda t: counts.get(t, 0))]


def names_in(text: str) -> frozenset[str]:
    """Capitalised words of a query that are not common words: the people and things it names."""
    found = set()
    for match in _NAME.finditer(text):
        name = re.sub(r"['’]s$", "", match.group(1)).lower()
        if len(name) > 1 and name not in STOPWORDS:
            found.add(name)
    return frozenset(found)


def speaker_of(content: str) -> str | None:
    """Who said it, when a memory is written as ``Name: text`` (a logged conversation turn)."""
    match = _SPEAKER.match(content)
    return match.group(1).strip().lower() if match else None


def asks_when(query: str) -> bool:
    """Whether a query asks for a time or a duration."""
    return bool(_ASKS_WHEN.search(query))


def mentions_time(text: str) -> bool:
    """Whether a text states a time: a date, a weekday, 'yesterday', 'last week', '3 years ago'."""
    return bool(_MENTIONS_TIME.search(text.lower()))


@dataclass(frozen=True)
class Reading:
    """What the name and time boosts need to know of a memory's text, read once per distinct
    text (a search looks at hundreds of candidates, mostly the same ones from one search to
    the next)."""

    speaker: str | None
    body_words: frozenset[str]
    states_time: bool


@functools.lru_cache(maxsize=65_536)
def reading(content: str) -> Reading:
    """The speaker, words said and whether it states a time, of one text."""
    speaker = speaker_of(content)
    body = content[content.index(":") + 1 :] if speaker is not None else content
    return Reading(speaker, frozenset(words(body)), mentions_time(content))


@functools.lru_cache(maxsize=65_536)
def length(content: str) -> int:
    """A text's length in words, as BM25 counts it (every candidate needs it, unlike the rest
    of ``reading``, so it is read on its own)."""
    return len(words(content)) or 1

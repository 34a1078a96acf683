"""Hybrid retrieval: how a search fuses meaning, words, session context, names and time.

Dense cosine search alone misses names, dates and rare words, and it ranks a chatty turn over
the one that holds the answer. So a search gathers candidates from two rankings (the vector
index and the ledger's stemmed keyword index), then scores each candidate by:

- **relevance**: its cosine similarity and its keyword (BM25) score, each normalised by the best
  in the candidate pool and added with configured weights (normalised scores keep the margin
  between a strong and a weak hit, which reciprocal-rank fusion throws away);
- **context**: the same two signals of the memories recorded just before and after it in the
  same session (the keyword one as BM25 of the window read as one text), so a reply is found
  through the question it answers, and a turn through the conversation around it. A memory
  with no session takes its own meaning (cosine) as its context, so a standalone fact is
  ranked on meaning first, as dense search would rank it, and is never put below session
  memories merely for lacking neighbours; a session memory whose neighbours are not in view
  takes its own two signals. Neighbours are context only where the session's order means
  something: in a conversation consecutive memories are closer in meaning than memories
  further apart, while in a session used as a notebook of unrelated facts they are not, and
  there each memory is ranked like one with no session (``session_order``);
- **names**: a boost when a name in the query is the memory's speaker (a leading ``Name:``) or
  appears in its text;
- **time**: for questions asking when or how long, a boost for memories that state a time;
- then the configured importance and recency boosts.

Everything here is a pure function of its arguments: ``pipeline.py`` gathers the candidates and
their neighbours from the stores and passes the weights in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from mcp_memory.config import RankingSettings
from mcp_memory.search.language import asks_when, length, names_in, reading


@dataclass(frozen=True)
class Candidate:
    """One memory a search may return, with its raw signals for this query."""

    id: str
    content: str
    similarity: float
    keyword: float
    importance: float
    created_at: datetime
    in_session: bool = False


@dataclass(frozen=True)
class Scored:
    """A candidate's final score and the parts it is made of (for tuning and explanation)."""

    id: str
    score: float
    relevance: float
    context: float
    boost: float


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    """1 for a memory created now, halving every ``half_life_days``."""
    age_days = max(0.0, (now - created_at).total_seconds() / 86400)
    return math.pow(0.5, age_days / half_life_days)


def session_order(vectors: np.ndarray, gap: int) -> float | None:
    """How much a session's order carries meaning: the mean cosine of consecutive members
    minus the mean cosine of members at least ``gap`` places apart (rows of ``vectors`` are
    unit vectors, oldest first).

    In a conversation each turn follows on from the one before, so consecutive turns are
    closer than turns further apart and the measure is positive (0.13 at the median of the
    LoCoMo sessions). A session used as a notebook of unrelated facts scores about 0 or less:
    there a memory's neighbours are no context for it. None when the session is too short
    to tell (fewer than ``2 * gap + 2`` members: too few pairs far apart for a steady mean).
    """
    n = len(vectors)
    if n < shortest_judged(gap):
        return None
    # Without the n x n matrix: the sum over all pairs is (|sum v|^2 - sum |v|^2) / 2, and the
    # pairs under ``gap`` apart are the few diagonals next to the main one.
    total = vectors.sum(axis=0)
    every = (float(total @ total) - float(np.einsum("ij,ij->", vectors, vectors))) / 2
    close = [np.einsum("ij,ij->i", vectors[:-d], vectors[d:]) for d in range(1, gap)]
    far_pairs = n * (n - 1) // 2 - sum(n - d for d in range(1, gap))
    far = (every - sum(float(c.sum()) for c in close)) / far_pairs
    return float(close[0].mean()) - far


def shortest_judged(gap: int) -> int:
    """The fewest members ``session_order`` judges a session on."""
    return 2 * gap + 2


def order_trust(order: float | None, full: float) -> float:
    """How far a session's neighbours count as context, from 0 (a notebook: each memory is
    ranked as if it had no session) to 1 (a conversation), given its ``session_order``."""
    if order is None or full <= 0:
        return 1.0
    return min(1.0, max(0.0, order / full))


def _scaled(values: Mapping[str, float], floor: float = 0.0) -> dict[str, float]:
    """Divide by the best value, or by ``floor`` when that is larger: a keyword score is
    measured against a memory holding every query term, so a lone weak match stays weak."""
    top = max(max(values.values(), default=0.0), floor)
    return {k: (max(v, 0.0) / top if top > 0 else 0.0) for k, v in values.items()}


@dataclass(frozen=True)
class Terms:
    """The query's search terms as the keyword index sees them: which candidates contain
    each term, and each term's inverse document frequency in the searched scope."""

    hits: Mapping[str, frozenset[str]]
    idf: Mapping[str, float]

    @classmethod
    def from_counts(
        cls, hits: Mapping[str, set[str]], counts: Mapping[str, int], total: int
    ) -> Terms:
        """Build from per-term matching ids and document counts out of ``total`` memories."""
        return cls(
            {t: frozenset(ids) for t, ids in hits.items()},
            {t: math.log(1 + (total - counts[t] + 0.5) / (counts[t] + 0.5)) for t in hits},
        )


NO_TERMS = Terms({}, {})


def presence_bm25(
    texts: Mapping[str, str], terms: Terms, k1: float = 1.2, b: float = 0.75
) -> dict[str, float]:
    """Each text's BM25 over the query terms it holds (as the keyword index matched them; a
    term counts once), with the searched scope's idf and the texts' mean length.

    The same measure as the window context (``_window_keyword``), so a memory holding every
    term scores about ``sum(idf)`` in both; computed from the term matches the search reads
    anyway, instead of asking the store-wide FTS5 index to score each candidate again.
    """
    if not terms.hits or not texts:
        return {}
    lengths = {i: length(t) for i, t in texts.items()}
    average = sum(lengths.values()) / len(lengths)
    out = {}
    for memory_id in texts:
        norm = k1 * (1 - b + b * lengths[memory_id] / average)
        held = [t for t, ids in terms.hits.items() if memory_id in ids]
        out[memory_id] = sum(terms.idf[t] for t in held) * (k1 + 1) / (1 + norm)
    return out


def rank(
    query: str,
    candidates: Sequence[Candidate],
    neighbours: Mapping[str, Sequence[tuple[int, str]]],
    weights: RankingSettings,
    now: datetime,
    terms: Terms = NO_TERMS,
    trust: Mapping[str, float] | None = None,
) -> list[Scored]:
    """Score every candidate, best first (ties by id, so the order is stable).

    ``neighbours`` maps a candidate's id to ``(offset, id)`` pairs of the memories around it in
    its session (offset -1 the one just before); a neighbour that is not a candidate is ignored.
    ``terms`` tells which candidates contain which query term, for the context keyword signal.
    ``trust`` maps a session memory's id to its session's ``order_trust`` (1 when absent).
    """
    by_id = {c.id: c for c in candidates}
    dense = _scaled({c.id: c.similarity for c in candidates})
    full = sum(terms.idf.values())
    keyword = _scaled({c.id: c.keyword for c in candidates}, full)
    window = _scaled(_window_keyword(candidates, neighbours, terms, weights), full)
    names = names_in(query)
    temporal = asks_when(query)
    periods = query_periods(query)
    scored = []
    for c in candidates:
        relevance = weights.semantic_weight * dense[c.id] + weights.keyword_weight * keyword[c.id]
        share = 1.0 if trust is None else trust.get(c.id, 1.0)
        around = neighbours.get(c.id, ())
        context = _context(c, around, share, by_id, dense, keyword, window, weights)
        boost = _name_boost(c.content, names, weights)
        if temporal and reading(c.content).states_time:
            boost += weights.time_boost
        if periods and in_periods(c.created_at, periods, weights.date_slack_days):
            boost += weights.date_boost
        boost += weights.importance_weight * c.importance
        boost += weights.recency_weight * recency(c.created_at, now, weights.recency_half_life_days)
        scored.append(Scored(c.id, relevance + context + boost, relevance, context, boost))
    scored.sort(key=lambda s: (-s.score, s.id))
    return scored


def _context(
    c: Candidate,
    around: Sequence[tuple[int, str]],
    share: float,
    by_id: Mapping[str, Candidate],
    dense: Mapping[str, float],
    keyword: Mapping[str, float],
    window: Mapping[str, float],
    weights: RankingSettings,
) -> float:
    """The context signal of one candidate (see the module docstring); ``share`` is how far
    its session's neighbours count (its session's ``order_trust``)."""
    alone = (weights.context_semantic_weight + weights.context_keyword_weight) * dense[c.id]
    if not c.in_session or share <= 0:
        return alone
    ctx_dense = _context_dense(c.id, around, by_id, dense, weights)
    if ctx_dense is None:
        return (
            weights.context_semantic_weight * dense[c.id]
            + weights.context_keyword_weight * keyword[c.id]
        )
    conversation = (
        weights.context_semantic_weight * ctx_dense
        + weights.context_keyword_weight * window.get(c.id, 0.0)
    )
    return share * conversation + (1 - share) * alone


def _context_dense(
    memory_id: str,
    around: Sequence[tuple[int, str]],
    by_id: Mapping[str, Candidate],
    dense: Mapping[str, float],
    weights: RankingSettings,
) -> float | None:
    """The best neighbour's dense signal, fading by ``context_decay`` per step away; None
    when no neighbour is in view."""
    best = None
    for offset, other in around:
        if other in by_id and 0 < abs(offset) <= weights.context_window:
            value = weights.context_decay ** (abs(offset) - 1) * dense[other]
            best = value if best is None else max(best, value)
    return best


def _window_keyword(
    candidates: Sequence[Candidate],
    neighbours: Mapping[str, Sequence[tuple[int, str]]],
    terms: Terms,
    weights: RankingSettings,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[str, float]:
    """BM25 of each session memory's window (itself and ``context_keyword_window`` memories
    either side) read as one text: a window that holds several of the query's words scores
    high even when no single memory holds them all. Term frequency counts the memories of the
    window that hold the term. Memories with no neighbour in view are left out."""
    if not terms.hits:
        return {}
    span = weights.context_keyword_window
    lengths = {c.id: length(c.content) for c in candidates}
    holds: dict[str, list[str]] = {}
    for term, ids in terms.hits.items():
        for memory_id in ids:
            holds.setdefault(memory_id, []).append(term)
    average = (sum(lengths.values()) / len(lengths)) * (2 * span + 1)
    out: dict[str, float] = {}
    for c in candidates:
        members = [c.id] + [
            o for off, o in neighbours.get(c.id, ()) if 0 < abs(off) <= span and o in lengths
        ]
        if len(members) == 1:
            continue
        size = sum(lengths[m] for m in members)
        tf: dict[str, int] = {}
        for member in members:
            for term in holds.get(member, ()):
                tf[term] = tf.get(term, 0) + 1
        norm = k1 * (1 - b + b * size / average)
        out[c.id] = sum(terms.idf[t] * n * (k1 + 1) / (n + norm) for t, n in tf.items())
    return out


def _name_boost(content: str, names: frozenset[str], weights: RankingSettings) -> float:
    if not names:
        return 0.0
    text = reading(content)
    boost = 0.0
    speaker = text.speaker
    if speaker is not None and (speaker in names or speaker.split()[0] in names):
        boost += weights.speaker_boost
    if not names.isdisjoint(text.body_words):
        boost += weights.subject_boost
    return boost


_MONTH_NUMBER = {
    name: i
    for i, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_MONTH_RE = "|".join(sorted(_MONTH_NUMBER, key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({_MONTH_RE})\.?,? (\d{{4}})\b", re.IGNORECASE
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b({_MONTH_RE})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?\b", re.IGNORECASE
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?,? (\d{{4}})\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def query_periods(query: str) -> list[tuple[datetime, datetime]]:
    """The calendar days or months a query names ("on 25 May, 2023", "in June 2023"), as
    [start, end) periods in UTC. A day named without a year takes the year named elsewhere."""
    years = re.findall(r"\b(?:19|20)\d\d\b", query)
    days: list[tuple[int, int, int]] = []
    for d, m, y in _DAY_MONTH_YEAR.findall(query):
        days.append((int(y), _MONTH_NUMBER[m.lower()], int(d)))
    for m, d, y in _MONTH_DAY_YEAR.findall(query):
        if y or years:
            days.append((int(y or years[-1]), _MONTH_NUMBER[m.lower()], int(d)))
    for y, m, d in _ISO_DATE.findall(query):
        days.append((int(y), int(m), int(d)))
    periods = [p for y, m, d in days if (p := _period(y, m, d))]
    if not periods:
        months = _MONTH_YEAR.findall(query)
        periods = [p for m, y in months if (p := _period(int(y), _MONTH_NUMBER[m.lower()]))]
    return periods


def _period(year: int, month: int, day: int = 0) -> tuple[datetime, datetime] | None:
    """[start, end) of a day (of the month, without ``day``); None when it is not on the
    calendar or ends past it ("9999-12-31", "December 9999", "May 0000", "30 February")."""
    try:
        start = datetime(year, month, day or 1, tzinfo=UTC)
        if day:
            return start, start + timedelta(days=1)
        return start, datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def in_periods(
    moment: datetime, periods: Sequence[tuple[datetime, datetime]], slack_days: float
) -> bool:
    """Whether a memory recorded at ``moment`` falls in a named period, or up to
    ``slack_days`` after it (a thing is often told a few days after it happened)."""
    slack = timedelta(days=slack_days)  # compared with a difference: end + slack may overflow
    return any(start <= moment and moment - end < slack for start, end in periods)

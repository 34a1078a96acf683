"""Shared helpers of the retrieval benchmarks: recall, baselines, a pre-embedding embedder.

Not part of the package; the benchmark scripts import it from their own folder.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[\w']+")


def recall(found: Sequence[str], relevant: Sequence[str], k: int) -> float:
    """Share of the relevant ids among the first k found."""
    top = set(found[:k])
    return sum(1 for r in relevant if r in top) / len(relevant)


class PreEmbedder:
    """An embedder that embeds many texts in one batch up front, then serves them by text.

    Same model, same vectors as the server; it only saves the per-call overhead when a
    benchmark loads thousands of memories in-process.
    """

    def __init__(self, inner, texts: Sequence[str]):
        self.inner = inner
        unique = list(dict.fromkeys(texts))
        self._cache = dict(zip(unique, inner.embed(unique), strict=True)) if unique else {}

    @classmethod
    def seeded(cls, inner, texts: Sequence[str], vectors: np.ndarray) -> PreEmbedder:
        """One that already holds these texts' vectors (computed earlier, kept on disk)."""
        made = cls(inner, [])
        made._cache.update(zip(texts, vectors, strict=True))
        return made

    def knows(self, texts: Sequence[str]) -> bool:
        return all(t in self._cache for t in texts)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.inner.embed(missing), strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else self.inner.embed([])

    def cached_query(self, text: str) -> np.ndarray | None:
        return self._cache.get(text)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """Plain Okapi BM25 (k1 1.5, b 0.75) over lower-cased words, no stemming: the baseline."""

    def __init__(self, docs: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.docs = [Counter(tokens(d)) for d in docs]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(1, len(self.docs))
        df = Counter(t for d in self.docs for t in d)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.k1, self.b = k1, b

    def scores(self, query: str) -> np.ndarray:
        terms = set(tokens(query))
        out = np.zeros(len(self.docs))
        for i, (doc, length) in enumerate(zip(self.docs, self.lengths, strict=True)):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg)
            out[i] = sum(
                self.idf[t] * doc[t] * (self.k1 + 1) / (doc[t] + norm) for t in terms if t in doc
            )
        return out


def top(scores: np.ndarray, k: int) -> list[int]:
    """Indices of the k best scores, best first (ties by index)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[int]:
    """Reciprocal-rank fusion of several rankings (lists of indices, best first)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for position, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + position + 1)
    return sorted(fused, key=lambda i: (-fused[i], i))

"""The stats of a scope as bar charts: the geometry of each bar (pure), drawn as inline SVG by
the ``stats.html`` template.

Each chart is a list of bars, one per value, the longest as wide as the chart, each labelled
with its name and count, so the chart reads without colours and a screen reader reads its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ROW = 26
LABEL = 130
WIDTH = 300


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    total: int

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * ROW

    @property
    def label_width(self) -> int:
        return LABEL

    @property
    def width(self) -> int:
        return LABEL + WIDTH + 60


def chart(title: str, counts: Mapping[str, int], top: int = 12) -> Chart:
    """The bars of ``counts``, largest first (the ``top`` largest; the rest as "others")."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > top:
        items = [*items[: top - 1], ("others", sum(v for _, v in items[top - 1 :]))]
    return ordered(title, dict(items))


def ordered(title: str, counts: Mapping[str, int]) -> Chart:
    """The bars of ``counts`` in the order given (stages, age bands: an order of their own)."""
    peak = max(counts.values(), default=0) or 1
    bars = [
        Bar(label, count, i * ROW, round(WIDTH * count / peak, 1))
        for i, (label, count) in enumerate(counts.items())
    ]
    return Chart(title, bars, sum(counts.values()))

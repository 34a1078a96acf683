"""The embedding model as an ONNX graph: the same weights and vectors, a fraction of the cost.

Importing torch and sentence-transformers takes 5-7 s, and their CPU path encodes a query in
about 10 ms. ONNX Runtime starts in about 0.3 s and encodes the same query in about 3 ms, with
the same vectors (cosine to the torch vectors of at least ``AGREEMENT``, checked before a
conversion is kept). So a sentence-transformers model is converted once per machine, the only
time torch is imported, into the user's cache directory, and served by ONNX Runtime after that.

Converted: pipelines of a Hugging Face encoder, mean pooling and (optionally) normalisation,
as the default all-MiniLM-L6-v2 is. Any other pipeline raises ``Unsupported``, and the torch
runtime serves it instead (``embeddings.py`` decides).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Bump when the exported graph changes, so stale conversions are not reused.
FORMAT = 1
AGREEMENT = 0.9999
PROBES = (
    "hello",
    "What is Nate's favourite dish from the cooking show he hosted?",
    "Café déjà vu: naïve façade, 東京, 🙂",
    "word " * 400,
)
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

logger = logging.getLogger(__name__)


class Unsupported(Exception):
    """This model cannot be served by ONNX Runtime here; the torch runtime serves it."""


@dataclass(frozen=True)
class Pipeline:
    """What a sentence-transformers model directory says about turning text into a vector."""

    directory: Path
    max_seq_length: int
    normalize: bool


def pipeline(directory: str | Path) -> Pipeline:
    """Read a model directory's pipeline; ``Unsupported`` unless it is encoder + mean pooling."""
    root = Path(directory).expanduser()
    try:
        modules = json.loads((root / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        pool_config = json.loads((root / pooling["path"] / "config.json").read_text())
        bert = json.loads((root / "sentence_bert_config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise Unsupported(f"not a sentence-transformers model directory: {exc}") from None
    means = [k for k, v in pool_config.items() if k.startswith("pooling_mode") and v]
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]):
        raise Unsupported(f"pipeline {kinds} is not encoder + pooling (+ normalize)")
    if means != ["pooling_mode_mean_tokens"] or bert.get("do_lower_case"):
        raise Unsupported(f"pooling {means} is not mean pooling over cased input")
    if not (root / "tokenizer.json").is_file():
        raise Unsupported("no tokenizer.json")
    return Pipeline(root, int(bert.get("max_seq_length") or 512), kinds[2:] == ["Normalize"])


def converted(spec: Pipeline, cache_dir: Path) -> Path:
    """The model's ONNX file in ``cache_dir``, converting it first if it is not there yet."""
    target = cache_dir / "onnx" / f"{spec.directory.name}-{_fingerprint(spec)}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    logger.info(
        "converting the embedding model in %s for ONNX Runtime, once on this machine: this "
        "takes 5-30 s (torch loads it; nothing is downloaded), later starts reuse it from %s",
        spec.directory, target.parent,
    )  # fmt: skip
    started = time.monotonic()
    handle, scratch = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    try:
        _export(spec, Path(scratch))
        _check(spec, Path(scratch))
        os.replace(scratch, target)
    finally:
        Path(scratch).unlink(missing_ok=True)
    logger.info("embedding model converted in %.1f s", time.monotonic() - started)
    return target


def _fingerprint(spec: Pipeline) -> str:
    """Names one conversion: the model's files (path, size, modification time) and FORMAT."""
    parts = [str(FORMAT), str(spec.directory.resolve())]
    for path in sorted(spec.directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.relative_to(spec.directory)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _export(spec: Pipeline, target: Path) -> None:
    """Trace the encoder with its pooling into one graph: ids and mask in, sentence vector out."""
    import torch
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(str(spec.directory)).eval()

    class Sentence(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1) if spec.normalize else mean

    # A padded example, so that the trace keeps the masking a padded batch needs.
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about Python-side shape checks
        torch.onnx.export(
            Sentence(), (ids, mask, torch.zeros_like(ids)), str(target),
            input_names=list(_INPUTS), output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}}, opset_version=17, dynamo=False,
        )  # fmt: skip


def _check(spec: Pipeline, exported: Path) -> None:
    """Keep a conversion only if it gives the torch model's vectors on texts of every shape."""
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(spec.directory), device="cpu")
    expected = reference.encode(
        list(PROBES), normalize_embeddings=spec.normalize, show_progress_bar=False
    )
    model = OnnxModel(spec, exported, threads=0)
    batched = model.encode(list(PROBES))
    one_by_one = np.concatenate([model.encode([text]) for text in PROBES])
    for got in (batched, one_by_one):
        agreement = np.sum(got * expected, axis=1) / (
            np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
        )
        if float(agreement.min()) < AGREEMENT:
            raise Unsupported(
                f"the ONNX graph disagrees with the model (cosine {agreement.min():.5f})"
            )


class OnnxModel:
    """An ONNX sentence encoder: tokenise with the model's own tokenizer, run, done."""

    def __init__(self, spec: Pipeline, path: Path, threads: int = 0, batch_size: int = 64):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        # 0 means every core: ONNX Runtime's own default took fewer here (255 texts/s against
        # 321 with both of this machine's two cores).
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads sleep instead of spinning. Spinning saved ~1.4 ms per encode on its
        # own, but took both cores from the ranking that follows: cold scoped searches at 100k
        # memories took 81 ms instead of 50, and imports ran 15% slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(spec.directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(spec.max_seq_length)
        self._tokenizer.enable_padding()
        self._batch_size = batch_size
        self.dimension = int(self.encode(["dimension"]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 vectors of the texts, in order; batched by length so little is padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            vectors = self._run([texts[i] for i in chosen])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[chosen] = vectors
        return out if out is not None else np.empty((0, 0), dtype=np.float32)

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        (vectors,) = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})
        return np.asarray(vectors, dtype=np.float32)

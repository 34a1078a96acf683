import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcp_memory.embeddings import onnx
from mcp_memory.embeddings.local import LocalEmbedder, local_model_exists, resolve_model_path
from mcp_memory.errors import ConfigError

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    "The cat sat on the mat",
    "What is Nate's favourite dish from the cooking show he hosted?",
    "Café déjà vu: naïve façade, 東京",
    "a long note " * 300,
]


def test_default_model_gives_unit_vectors_offline(embedder):
    vectors = embedder.embed(
        ["The cat sat on the mat", "A feline rested on a rug", "Quarterly tax report"]
    )
    assert vectors.shape == (3, 384) and embedder.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_default_model_runs_on_onnx_with_the_torch_vectors(embedder, model_cache):
    assert embedder.runtime == "onnx"
    torch = LocalEmbedder(MODEL, backend="torch", cache_dir=model_cache)
    assert torch.runtime == "torch"
    expected = torch.embed(TEXTS)
    batched = embedder.embed(TEXTS)
    single = np.stack([embedder.embed([t])[0] for t in TEXTS])
    for got in (batched, single):
        assert np.min(np.sum(got * expected, axis=1)) > 0.9999


def test_the_conversion_is_kept_and_a_new_process_starts_without_torch(embedder, model_cache):
    assert embedder.runtime == "onnx"
    converted = list((model_cache / "onnx").glob("*.onnx"))
    assert len(converted) == 1
    stamp = converted[0].stat().st_mtime_ns
    script = (
        "import sys; from pathlib import Path; from mcp_memory.embeddings.local import LocalEmbedder; "
        f"e = LocalEmbedder({MODEL!r}, cache_dir=Path({str(model_cache)!r})); "
        "v = e.embed_query('hello'); print(e.runtime, 'torch' in sys.modules, v.shape[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["onnx", "False", "384"]
    assert converted[0].stat().st_mtime_ns == stamp


def test_a_conversion_first_says_what_it_does_and_how_long(tmp_path, monkeypatch, caplog):
    """The one-time conversion (tested above) is seconds of silence otherwise; here the export
    is stopped as it starts, to see what was logged by then."""
    logged_before: list[str] = []

    def stop(spec, target):
        logged_before.append(caplog.text)
        raise onnx.Unsupported("stopped")

    monkeypatch.setattr(onnx, "_export", stop)
    with caplog.at_level(logging.INFO), pytest.raises(onnx.Unsupported):
        onnx.converted(onnx.pipeline(resolve_model_path(MODEL)), tmp_path)
    assert "converting the embedding model in" in logged_before[0]
    assert "takes 5-30 s" in logged_before[0]


def test_a_model_onnx_cannot_serve_falls_back_to_torch(tmp_path, model_cache):
    model = _copy_with_cls_pooling(tmp_path)
    auto = LocalEmbedder(str(model), cache_dir=model_cache)
    assert auto.runtime == "torch"
    assert auto.embed(["hello"]).shape == (1, 384)
    forced = LocalEmbedder(str(model), backend="onnx", cache_dir=model_cache)
    with pytest.raises(ConfigError, match="mean pooling"):
        forced.embed(["hello"])


def _copy_with_cls_pooling(tmp_path):
    """The default model's files (linked, not copied) with CLS instead of mean pooling."""
    source = resolve_model_path(MODEL)
    target = tmp_path / "cls-model"
    for path in sorted(Path(source).rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(path)
    pooling = target / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.unlink()
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    return target


def test_query_cache_returns_the_same_vector(embedder):
    first = embedder.embed_query("where do I keep my passport?")
    assert embedder.embed_query("where do I keep my passport?") is first


def test_unknown_model_fails_with_an_actionable_message(tmp_path):
    missing = LocalEmbedder(str(tmp_path / "no-such-model"))
    assert not local_model_exists(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match=r"\[embedding\] model") as raised:
        missing.embed(["x"])
    assert "\n" not in str(raised.value)


def test_a_model_name_not_on_this_machine_says_so_without_the_hub_advice():
    """The hub's error says to check the internet connection: this server never downloads."""
    with pytest.raises(ConfigError) as raised:
        LocalEmbedder("no-such-org/no-such-model").embed(["x"])
    message = str(raised.value)
    assert "'no-such-org/no-such-model' was not found" in message
    assert "never downloads" in message and "local directory" in message
    assert "internet" not in message and "\n" not in message

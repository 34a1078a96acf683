import numpy as np
import pytest

from mcp_memory.embeddings import SentenceTransformerEmbedder, local_model_exists
from mcp_memory.errors import ConfigError


def test_default_model_gives_unit_vectors_offline(embedder):
    vectors = embedder.embed(
        ["The cat sat on the mat", "A feline rested on a rug", "Quarterly tax report"]
    )
    assert vectors.shape == (3, 384) and embedder.dimension == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_query_cache_returns_the_same_vector(embedder):
    first = embedder.embed_query("where do I keep my passport?")
    assert embedder.embed_query("where do I keep my passport?") is first


def test_unknown_model_fails_with_an_actionable_message(tmp_path):
    missing = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    assert not local_model_exists(str(tmp_path / "no-such-model"))
    with pytest.raises(ConfigError, match=r"embedding\.model"):
        missing.embed(["x"])

from pathlib import Path

import pytest

from mcp_memory.config import Settings, load_settings
from mcp_memory.errors import ConfigError

EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_example_file_lists_the_defaults():
    from_file = load_settings(EXAMPLE).model_dump(exclude={"data_dir"})
    assert from_file == Settings().model_dump(exclude={"data_dir"})


def test_file_then_environment_override(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text(
        'data_dir = "/tmp/x"\n[ranking]\nimportance_weight = 0.2\nrecency_weight = 0.5\n'
    )
    monkeypatch.delenv("MCP_MEMORY_DATA_DIR")
    monkeypatch.setenv("MCP_MEMORY_RANKING__RECENCY_WEIGHT", "0.3")
    settings = load_settings(path)
    assert settings.data_dir == Path("/tmp/x")
    assert settings.ranking.importance_weight == 0.2
    assert settings.ranking.recency_weight == 0.3


def test_config_from_environment_variable_path(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[limits]\nmax_limit = 7\n")
    monkeypatch.setenv("MCP_MEMORY_CONFIG", str(path))
    assert load_settings().limits.max_limit == 7


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[limits]\nmax_lenght = 3\n")
    with pytest.raises(ConfigError, match=r"limits\.max_lenght: unknown key"):
        load_settings(path)


def test_bad_value_is_named(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[ranking]\nimportance_weight = -1\n")
    with pytest.raises(ConfigError, match=r"ranking\.importance_weight: .*greater than or equal"):
        load_settings(path)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[ranking\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_onnx_on_a_gpu_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match='backend "onnx" runs on the CPU'):
        Settings(embedding={"backend": "onnx", "device": "cuda"})
    assert Settings(embedding={"backend": "auto", "device": "cuda"}).embedding.device == "cuda"


def test_the_legacy_vector_backends_still_mean_chroma(tmp_path):
    """Before Qdrant, ``backend`` named Chroma's mode: such files keep working unchanged."""
    path = tmp_path / "c.toml"
    path.write_text('[vector]\nbackend = "http"\nport = 8001\n')
    vec = load_settings(path).vector
    assert (vec.backend, vec.mode, vec.port) == ("chroma", "server", 8001)
    vec = Settings(vector={"backend": "embedded"}).vector
    assert (vec.backend, vec.mode) == ("chroma", "embedded")
    vec = Settings(vector={"backend": "qdrant", "mode": "server"}).vector
    assert (vec.backend, vec.mode) == ("qdrant", "server")
    with pytest.raises(ValueError, match="backend"):
        Settings(vector={"backend": "pinecone"})


def test_the_qdrant_api_key_is_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("MCP_MEMORY_VECTOR__QDRANT__API_KEY", "s3cret-key-value")
    settings = load_settings(data_dir=tmp_path)
    assert settings.vector.qdrant.api_key.get_secret_value() == "s3cret-key-value"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert settings.vector.qdrant.hnsw_ef_construct == 128
    assert settings.vector.qdrant.indexing_threshold == 10_000

import numpy as np
import pytest

from mcp_memory.errors import IndexMismatch
from mcp_memory.vectors import ChromaIndex, VectorRecord


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_query_by_scope_and_ids(tmp_path):
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3)
    index.upsert(
        [
            VectorRecord("a", unit(1, 0, 0), user_id="u"),
            VectorRecord("b", unit(0.9, 0.1, 0), user_id="v"),
            VectorRecord("c", unit(0, 1, 0), user_id="u", session_id="s"),
        ]
    )
    assert [h.id for h in index.query(unit(1, 0, 0), 3)] == ["a", "b", "c"]
    assert [h.id for h in index.query(unit(1, 0, 0), 3, scope={"user_id": "u"})] == ["a", "c"]
    assert [
        h.id for h in index.query(unit(1, 0, 0), 3, scope={"user_id": "u", "session_id": "s"})
    ] == ["c"]
    assert [h.id for h in index.query(unit(1, 0, 0), 3, ids=["b", "c"])] == ["b", "c"]
    top = index.query(unit(1, 0, 0), 1)[0]
    assert abs(top.similarity - 1.0) < 1e-5
    index.delete(["a"])
    assert index.count() == 2 and index.existing_ids(["a", "b"]) == {"b"}
    assert sorted(index.all_ids()) == ["b", "c"]


def test_a_different_model_is_refused_with_a_pointer_to_reindex(tmp_path):
    ChromaIndex(tmp_path, "mem", model="model-a", dimension=3)
    with pytest.raises(IndexMismatch, match="mcp-memory reindex"):
        ChromaIndex(tmp_path, "mem", model="model-b", dimension=3)
    with pytest.raises(IndexMismatch, match="384 dimensions"):
        ChromaIndex(tmp_path, "mem", model="model-a", dimension=384)

import sqlite3
import threading

import numpy as np
import pytest

from mcp_memory.errors import IndexMismatch
from mcp_memory.store.vectors import VectorRecord
from mcp_memory.vectors.chroma import ChromaIndex, scoped_file
from mcp_memory.vectors.scoped import ScopedVectors


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


def _three(tmp_path) -> None:
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3)
    index.upsert(
        [
            VectorRecord("a", unit(1, 0, 0), user_id="u"),
            VectorRecord("b", unit(0.9, 0.1, 0), user_id="v"),
            VectorRecord("c", unit(0.5, 0.5, 0), user_id="u"),
        ]
    )
    index.close()


def test_chroma_opens_on_first_need_and_a_scan_answers_until_then(tmp_path):
    _three(tmp_path)
    deferred = threading.Event()
    deferred.set()
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3, defer_open=deferred.is_set)
    assert not index.chroma_open
    scanned = index.query(unit(1, 0, 0), 2)
    in_scope = index.query(unit(1, 0, 0), 5, scope={"user_id": "u"})
    assert not index.chroma_open  # answered exactly from the scoped copy
    assert [h.id for h in scanned] == ["a", "b"] and [h.id for h in in_scope] == ["a", "c"]
    deferred.clear()
    opened = index.query(unit(1, 0, 0), 2)
    assert index.chroma_open and [h.id for h in opened] == ["a", "b"]
    assert [round(h.similarity, 5) for h in opened] == [round(h.similarity, 5) for h in scanned]


def test_a_scoped_copy_from_before_the_model_stamp_is_kept_and_stamped(tmp_path):
    _three(tmp_path)
    with sqlite3.connect(tmp_path / scoped_file("mem")) as conn:
        conn.execute("DELETE FROM meta")
    conn.close()
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3)
    assert index.chroma_open  # the model is checked against Chroma's record at once
    index.close()
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3)
    assert not index.chroma_open and index.read_scope({"user_id": "u"}).ids == ["a", "c"]


def test_a_scoped_copy_stamped_with_another_model_is_rebuilt_from_chroma(tmp_path):
    _three(tmp_path)
    with sqlite3.connect(tmp_path / scoped_file("mem")) as conn:
        conn.execute("UPDATE meta SET value = 'other' WHERE key = 'model'")
        conn.execute("DELETE FROM vectors WHERE id = 'c'")
    conn.close()
    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3)
    assert sorted(index.read_scope().ids) == ["a", "b", "c"]


def test_a_different_model_is_refused_with_a_pointer_to_reindex(tmp_path):
    ChromaIndex(tmp_path, "mem", model="model-a", dimension=3)
    with pytest.raises(IndexMismatch, match="mcp-memory reindex"):
        ChromaIndex(tmp_path, "mem", model="model-b", dimension=3)
    with pytest.raises(IndexMismatch, match="384 dimensions"):
        ChromaIndex(tmp_path, "mem", model="model-a", dimension=384)


def test_the_scan_reads_every_vector_of_the_scope_block_by_block(tmp_path):
    scoped = ScopedVectors(tmp_path / "s.sqlite3", 3)
    rows = [
        (f"m{n}", user, "", session, unit(1, n, 0))
        for n, (user, session) in enumerate(
            [("u", "a"), ("u", "b"), ("v", "a"), ("u", "a"), ("", ""), ("u", "c"), ("v", "")]
        )
    ]
    scoped.upsert(rows)
    every = [i for ids, _ in scoped.blocks(size=2) for i in ids]
    assert sorted(every) == sorted(r[0] for r in rows) and len(every) == len(rows)
    users = [i for ids, _ in scoped.blocks({"user_id": "u"}, size=1) for i in ids]
    assert sorted(users) == ["m0", "m1", "m3", "m5"]
    blocks = list(scoped.blocks({"user_id": "u", "session_id": "a"}, size=1))
    assert [ids for ids, _ in blocks] == [["m0"], ["m3"]]
    assert np.allclose(blocks[1][1][0], unit(1, 3, 0))


def test_vectors_survive_a_chroma_get_that_answers_fewer_embeddings_than_ids(tmp_path, monkeypatch):
    """Chroma may answer ``get`` with fewer embeddings than ids (seen under concurrent writes,
    chroma-core/chroma#1265); the ids cannot be paired with them, so each is read again alone
    instead of failing the search that asked."""
    from chromadb.api.models.Collection import Collection

    index = ChromaIndex(tmp_path, "mem", model="m", dimension=3, scoped=False)
    index.upsert([VectorRecord("a", unit(1, 0, 0)), VectorRecord("b", unit(0, 1, 0))])
    real_get = Collection.get

    def short_answer(self, *args, **kwargs):
        got = real_get(self, *args, **kwargs)
        if len(got["ids"]) > 1:
            got["embeddings"] = got["embeddings"][:1]
        return got

    monkeypatch.setattr(Collection, "get", short_answer)
    found = index.vectors(["a", "b"])
    assert sorted(found) == ["a", "b"]
    assert np.allclose(found["b"], unit(0, 1, 0))

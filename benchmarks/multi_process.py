"""Why and at what cost the index is guarded across processes (see mcp_memory/index_guard.py).

1. Raw Chroma: process A holds a PersistentClient; process B adds two vectors and deletes one.
   Prints what A's count, get and query see before and after reopening its client.
2. The guard: the time of a warm query through ``IndexGuard`` against the raw index (the guard
   adds one SQLite counter read), and the time of the reopen that follows a foreign write.

    python benchmarks/multi_process.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from mcp_memory.indexing.guard import IndexGuard
from mcp_memory.ledger import Ledger
from mcp_memory.store.vectors import VectorRecord
from mcp_memory.vectors.chroma import ChromaIndex

CHILD = """
import sys, numpy as np, chromadb
from chromadb.config import Settings
client = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))
col = client.get_or_create_collection("bench", embedding_function=None)
col.add(ids=["b", "c"], embeddings=np.random.default_rng(1).random((2, 8)).astype(np.float32))
col.delete(ids=["a"])
"""


def raw_staleness() -> None:
    path = tempfile.mkdtemp()
    settings = ChromaSettings(anonymized_telemetry=False)

    def open_collection():
        client = chromadb.PersistentClient(path=path, settings=settings)
        return client, client.get_or_create_collection(
            "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

    client, col = open_collection()
    query = np.ones((1, 8), dtype=np.float32)
    col.add(ids=["a"], embeddings=np.random.default_rng(0).random((1, 8)).astype(np.float32))
    col.query(query_embeddings=query, n_results=5)
    subprocess.run([sys.executable, "-c", CHILD, path], check=True)
    print("after another process added b, c and deleted a:")
    print(f"  count()  -> {col.count()}")
    print(f"  get()    -> {sorted(col.get()['ids'])}")
    print(f"  query()  -> {sorted(col.query(query_embeddings=query, n_results=5)['ids'][0])}")
    try:
        col.query(query_embeddings=query, n_results=1, ids=["b"])
        print("  query(ids=['b']) -> ok")
    except Exception as exc:
        print(f"  query(ids=['b']) -> {type(exc).__name__}: {exc}")
    started = time.perf_counter()
    client.close()
    client, col = open_collection()
    reopen = time.perf_counter() - started
    print(f"  after close() and reopen ({reopen * 1000:.0f} ms): query() -> "
          f"{sorted(col.query(query_embeddings=query, n_results=5)['ids'][0])}")  # fmt: skip
    client.close()


def guard_cost(n: int = 2000) -> None:
    root = Path(tempfile.mkdtemp())
    ledger = Ledger(root / "ledger.sqlite3")

    def guard() -> IndexGuard:
        return IndexGuard(
            lambda: ChromaIndex(root / "chroma", "bench", "m", 8),
            lambda: ledger.counter("index_generation"),
            lambda: ledger.bump_counter("index_generation"),
            root / "index.lock",
        )

    mine, other = guard(), guard()
    vectors = np.random.default_rng(0).random((n, 8)).astype(np.float32)
    mine.upsert([VectorRecord(id=f"m{i}", vector=v) for i, v in enumerate(vectors)])
    raw, q = mine.opened(), vectors[0]
    for name, fn in (("raw query", lambda: raw.query(q, 10)), ("guarded query", lambda: mine.query(q, 10))) * 2:  # fmt: skip
        best = min(timeit.repeat(fn, number=200, repeat=5)) / 200
        print(f"{name:>14}: {best * 1e6:7.0f} us  ({n} vectors)")
    print(f"  counter read: {min(timeit.repeat(lambda: ledger.counter('index_generation'), number=2000, repeat=5)) / 2000 * 1e6:.1f} us")  # fmt: skip
    other.upsert([VectorRecord(id="x", vector=vectors[1])])
    started = time.perf_counter()
    hits = mine.query(vectors[1], 1)
    print(f"first query after a foreign write (reopens): {(time.perf_counter() - started) * 1000:.0f} ms, "
          f"finds it: {hits[0].id == 'x'}, reopened {mine.reopened}x")  # fmt: skip
    mine.close()
    other.close()


if __name__ == "__main__":
    raw_staleness()
    guard_cost()

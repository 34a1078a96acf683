"""Qdrant's two in-process engines on the same vectors: qdrant-edge-py against qdrant-client's
local mode (which mcp-memory ships as embedded Qdrant, and why: README "Vector engines").

    python benchmarks/qdrant_engines.py                 # 10,000 vectors
    python benchmarks/qdrant_engines.py --sizes 10000,100000

The vectors are the real model's embeddings of ``synthetic.memories`` (100 users), computed
once and kept in benchmarks/results/ (git-ignored); the queries are embedded the same way.
Each engine runs in its own process (so peak RSS is its own) and reports: the time to write
every vector (and for Edge, to build its HNSW graphs: ``optimize``), the time to load the
store again from disk, global and one-user search latency (median of 200), recall@10 of the
global search against exact numpy cosine, and the process's peak RSS. ``edge-plain`` is Edge
without building its graphs (brute force over every vector).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

RESULTS = Path(__file__).resolve().parent / "results"
USERS = 100
QUERIES = 200
BATCH = 1024


def vectors(size: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The embeddings of ``size`` synthetic memories, their users, and the query embeddings."""
    RESULTS.mkdir(exist_ok=True)
    cache = RESULTS / f"qdrant-engines-{size}.npz"
    if not cache.exists():
        from mcp_memory.config import Settings
        from mcp_memory.factory import build_embedder

        embedder = build_embedder(Settings(performance={"encode_threads": 0}))
        records = list(synthetic.memories(size, USERS))
        matrix = embedder.embed([r["content"] for r in records])
        queries = embedder.embed(list(synthetic.queries(QUERIES, seed=7)))
        np.savez(
            cache,
            matrix=np.asarray(matrix, dtype=np.float32),
            users=np.array([r["user_id"] for r in records]),
            queries=np.asarray(queries, dtype=np.float32),
        )
    data = np.load(cache)
    return data["matrix"], [str(u) for u in data["users"]], data["queries"]


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


class Edge:
    """qdrant-edge-py: Qdrant's Rust engine in-process."""

    def __init__(self, path: Path, dimension: int):
        import qdrant_edge as q

        self.q, self.path = q, path
        self.config = q.EdgeConfig(
            vectors=q.EdgeVectorParams(size=dimension, distance=q.Distance.Cosine),
            hnsw_config=q.HnswIndexConfig(m=16, ef_construct=128, full_scan_threshold=10_000),
            optimizers=q.EdgeOptimizersConfig(default_segment_number=2, indexing_threshold=10_000),
        )
        self.shard = q.EdgeShard.create(str(path), self.config)
        self.shard.update(
            q.UpdateOperation.create_field_index("user_id", q.PayloadSchemaType.Keyword)
        )

    def write(self, ids: list[str], matrix: np.ndarray, users: list[str]) -> None:
        q = self.q
        points = [
            q.Point(id=i, vector=v.tolist(), payload={"memory_id": i, "user_id": u})
            for i, v, u in zip(ids, matrix, users, strict=True)
        ]
        self.shard.update(q.UpdateOperation.upsert_points(points))

    def finish(self) -> None:
        self.shard.optimize()

    def reopen(self) -> None:
        self.shard.close()
        self.shard = self.q.EdgeShard.load(str(self.path))

    def search(self, vector: np.ndarray, user: str | None) -> list[str]:
        q = self.q
        flt = None
        if user is not None:
            flt = q.Filter(must=[q.FieldCondition(key="user_id", match=q.MatchValue(user))])
        hits = self.shard.query(
            q.QueryRequest(
                limit=10,
                query=q.Query.Nearest(vector.tolist()),
                filter=flt,
                with_payload=["memory_id"],
                params=q.SearchParams(hnsw_ef=128),
            )
        )
        return [h.payload["memory_id"] for h in hits]


class EdgePlain(Edge):
    """Edge without ``optimize``: every vector in the plain segment, searched by brute force
    (what a server adds between two reindexes or imports)."""

    def finish(self) -> None:
        pass


class Local:
    """qdrant-client's local mode: a Python (numpy) re-implementation, persisted in SQLite."""

    def __init__(self, path: Path, dimension: int):
        from qdrant_client import QdrantClient, models

        self.models, self.path = models, path
        self.client = QdrantClient(path=str(path))
        self.client.create_collection(
            "bench",
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        )

    def write(self, ids: list[str], matrix: np.ndarray, users: list[str]) -> None:
        m = self.models
        self.client.upsert(
            "bench",
            [
                m.PointStruct(id=i, vector=v.tolist(), payload={"memory_id": i, "user_id": u})
                for i, v, u in zip(ids, matrix, users, strict=True)
            ],
        )

    def finish(self) -> None:
        pass

    def reopen(self) -> None:
        from qdrant_client import QdrantClient

        self.client.close()
        self.client = QdrantClient(path=str(self.path))

    def search(self, vector: np.ndarray, user: str | None) -> list[str]:
        m = self.models
        flt = None
        if user is not None:
            flt = m.Filter(must=[m.FieldCondition(key="user_id", match=m.MatchValue(value=user))])
        hits = self.client.query_points(
            "bench", query=vector.tolist(), query_filter=flt, limit=10, with_payload=["memory_id"]
        ).points
        return [h.payload["memory_id"] for h in hits]


def measure(engine_name: str, size: int) -> dict:
    matrix, users, queries = vectors(size)
    ids = [str(uuid.uuid5(uuid.NAMESPACE_OID, str(n))) for n in range(size)]
    workdir = Path(tempfile.mkdtemp(prefix=f"qdrant-{engine_name}-"))
    try:
        engine = {"edge": Edge, "edge-plain": EdgePlain, "local": Local}[engine_name](
            workdir / "store", matrix.shape[1]
        )
        start = time.perf_counter()
        for begin in range(0, size, BATCH):
            end = begin + BATCH
            engine.write(ids[begin:end], matrix[begin:end], users[begin:end])
        written = time.perf_counter() - start
        start = time.perf_counter()
        engine.finish()
        indexed = time.perf_counter() - start
        start = time.perf_counter()
        engine.reopen()
        reopen_s = time.perf_counter() - start
        start = time.perf_counter()
        engine.search(queries[0], None)
        first_ms = ms(start)
        user_of = dict(zip(ids, users, strict=True))
        user_ids = synthetic.user_ids(USERS)
        glob, scoped, recall = [], [], []
        for n, query in enumerate(queries):
            start = time.perf_counter()
            found = engine.search(query, None)
            glob.append(ms(start))
            exact = np.argsort(-(matrix @ query))[:10]
            recall.append(len({ids[i] for i in exact} & set(found)) / 10)
            user = user_ids[n % USERS]
            start = time.perf_counter()
            hits = engine.search(query, user)
            scoped.append(ms(start))
            assert hits and all(user_of[h] == user for h in hits)
        return {
            "engine": engine_name,
            "vectors": size,
            "write_s": round(written, 2),
            "index_s": round(indexed, 2),
            "reopen_s": round(reopen_s, 3),
            "first_search_ms": round(first_ms, 2),
            "global_p50_ms": round(statistics.median(glob), 3),
            "scoped_p50_ms": round(statistics.median(scoped), 3),
            "recall_at_10": round(statistics.mean(recall), 4),
            "peak_rss_mb": round(peak_rss_mb()),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000", help="vector counts (default 10000)")
    parser.add_argument(
        "--engines", default="edge,local", help="edge, edge-plain, local (default edge,local)"
    )
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        vectors(size)  # embed once, outside the measured processes
        for engine in args.engines.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", engine, str(size)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()

"""Embedded Chroma against a Chroma server (`chroma run`): add, search and reindex, same data.

Loads the turns of LoCoMo conversations (one memory per turn, scoped by conversation) into a
fresh store per backend, then times a warm search and a full `reindex`.
Run: python benchmarks/backends.py [--memories 1000] [--searches 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp_memory.config import load_settings
from mcp_memory.factory import build_embedder, build_service, reindex_store
from tests.chroma_server import start_chroma

LOCOMO = Path("/work/shared/data/locomo")


def turns(limit: int) -> list[tuple[str, str]]:
    """(conversation id, text) for the first ``limit`` turns of the LoCoMo files."""
    out: list[tuple[str, str]] = []
    for path in sorted(LOCOMO.glob("conv-*.json")):
        conv = json.loads(path.read_text())
        conversation = conv.get("conversation", conv)
        sessions = sorted(
            (k for k in conversation if k.startswith("session_") and k.split("_")[1].isdigit()),
            key=lambda k: int(k.split("_")[1]),
        )
        for key in sessions:
            if isinstance(conversation[key], list):
                out.extend((path.stem, t["text"]) for t in conversation[key] if t.get("text"))
    return out[:limit]


def run(backend: str, data: list[tuple[str, str]], searches: int, embedder, workdir: Path):
    vector = {"backend": backend}
    server = None
    if backend == "http":
        server = start_chroma(workdir / "chroma-server")
        vector.update(host=server.host, port=server.port)
    settings = load_settings(data_dir=workdir / f"data-{backend}", vector=vector)
    service = build_service(settings, embedder=embedder)
    try:
        started = time.perf_counter()
        for conv, text in data:
            service.add(text, user_id=conv)
        add_s = time.perf_counter() - started
        queries = [text for _, text in data[:: max(1, len(data) // searches)]][:searches]
        service.search(queries[0], user_id=data[0][0])
        timings = []
        for (conv, _), query in zip(data[:: max(1, len(data) // searches)], queries, strict=False):
            t = time.perf_counter()
            service.search(query, user_id=conv, limit=10)
            timings.append(time.perf_counter() - t)
        result = reindex_store(settings, embedder=embedder)
        return {
            "backend": backend,
            "memories": len(data),
            "add_per_memory_ms": round(1000 * add_s / len(data), 1),
            "search_median_ms": round(1000 * statistics.median(timings), 1),
            "reindex_s": result.seconds,
            "reindex_per_s": round(result.memories / result.seconds, 1),
        }
    finally:
        service.close()
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memories", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=50)
    args = parser.parse_args()
    data = turns(args.memories)
    embedder = build_embedder(load_settings())
    embedder.embed_query("warm up")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(b, data, args.searches, embedder, Path(tmp)) for b in ("embedded", "http")]
    print("| backend | memories | add / memory | search (median) | reindex | reindex rate |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['memories']} | {r['add_per_memory_ms']} ms | "
            f"{r['search_median_ms']} ms | {r['reindex_s']} s | {r['reindex_per_s']}/s |"
        )


if __name__ == "__main__":
    main()

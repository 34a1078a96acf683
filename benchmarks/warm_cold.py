"""Scoped search through MCP stdio with the server's CPU caches warm or cold, on stores that
`perf.py --keep` left (benchmarks/results/store-SIZE and store-SIZE-ENGINE).

    python benchmarks/perf.py --sizes 100000 --vector chroma,qdrant --keep   # once
    python benchmarks/warm_cold.py --size 100000 --vector chroma,qdrant

`perf.py` computes each figure's floor between two calls (an encode and a numpy scan over all
the vectors, in its own process), so every search it times meets caches that other work has
just filled. This script times the same searches back to back ("warm"), then with a numpy scan
of a SIZE x 384 matrix between them ("cold"), one engine after the other, twice each, so an
engine's sensitivity to cold caches shows apart from its search itself.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import anyio
import numpy as np
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

RESULTS = Path(__file__).resolve().parent / "results"


def params(size: int, engine: str) -> StdioServerParameters:
    store = RESULTS / (f"store-{size}" if engine == "chroma" else f"store-{size}-{engine}")
    if not store.is_dir():
        sys.exit(f"no store at {store}: run perf.py --sizes {size} --vector {engine} --keep")
    env = {
        "MCP_MEMORY_DATA_DIR": str(store),
        "MCP_MEMORY_LOG_LEVEL": "WARNING",
        "MCP_MEMORY_VECTOR__BACKEND": engine,
        "HF_HUB_OFFLINE": "1",
        "PATH": os.environ.get("PATH", ""),
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_memory", "serve"], env=env
    )


async def scoped_ms(size: int, engine: str, searches: int, cold: np.ndarray | None) -> float:
    """The median of ``searches`` scoped searches, each of a random user of 100."""
    users = synthetic.user_ids(100)
    queries = iter(synthetic.queries(10 * searches, seed=3))
    rng = random.Random(2)
    times = []
    async with Client(params(size, engine)) as client:
        await client.call_tool("stats", {})  # waits for the model and the index
        await client.call_tool("search_memory", {"query": "warm up", "user_id": users[0]})
        for _ in range(searches):
            if cold is not None:
                cold @ cold[0]
            args = {"query": next(queries), "user_id": rng.choice(users)}
            start = time.perf_counter()
            await client.call_tool("search_memory", args)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main_async(args: argparse.Namespace) -> None:
    engines = args.vector.split(",")
    matrix = np.random.default_rng(0).standard_normal((args.size, 384)).astype(np.float32)
    for label, cold in (("warm", None), ("cold", matrix)):
        for round_ in (1, 2):
            for engine in engines:
                ms = await scoped_ms(args.size, engine, args.searches, cold)
                print(f"{label} caches, run {round_}, {engine}: scoped search p50 {ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000, help="store size (default 100000)")
    parser.add_argument("--vector", default="chroma,qdrant", help="engines (default both)")
    parser.add_argument("--searches", type=int, default=60, help="searches per run (default 60)")
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()

"""Two checkouts' search latency through MCP stdio on the same store, taking turns: what a change
does to a search, apart from the drift between two `perf.py` runs (which on this machine moved
a figure by more than some changes do).

    git worktree add /tmp/before <commit>                 # the checkout to compare against
    python benchmarks/perf.py --sizes 100000 --keep        # a store, once (or --reuse)
    python benchmarks/ab_search.py /tmp/before .           # SQLite + Chroma
    python benchmarks/perf.py --sizes 100000 --reuse --backend postgres --pg-dsn DSN
    python benchmarks/ab_search.py /tmp/before . --pg-dsn DSN   # the store moved to PostgreSQL

Each server runs from its checkout (its own directory first on the import path), on the store
perf.py kept in benchmarks/results/store-SIZE, or on the schema perf_SIZE that
`perf.py --backend postgres --pg-dsn DSN` left in that database. The checkouts alternate
(A, B, A, B), each round a fresh server answering ``--searches`` searches of a random user of
100 (or, with ``--global``, of everyone), back to back; each prints its median.
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
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic

RESULTS = Path(__file__).resolve().parent / "results"


def params(tree: Path, args: argparse.Namespace) -> StdioServerParameters:
    env = {
        "MCP_MEMORY_DATA_DIR": str(RESULTS / f"store-{args.size}"),
        "MCP_MEMORY_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(tree),
    }
    if args.pg_dsn:
        env["MCP_MEMORY_STORAGE__BACKEND"] = "postgres"
        env["MCP_MEMORY_STORAGE__DSN"] = args.pg_dsn
        env["MCP_MEMORY_STORAGE__SCHEMA"] = f"perf_{args.size}"
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_memory", "serve"], env=env, cwd=str(tree)
    )


async def median_ms(tree: Path, args: argparse.Namespace) -> float:
    users = synthetic.user_ids(100)
    queries = iter(synthetic.queries(10 * args.searches, seed=3))
    rng = random.Random(2)
    times = []
    async with Client(params(tree, args)) as client:
        await client.call_tool("stats", {})  # waits for the model and the index
        await client.call_tool("search_memory", {"query": "warm up", "user_id": users[0]})
        for _ in range(args.searches):
            call = {"query": next(queries)}
            if not args.everyone:
                call["user_id"] = rng.choice(users)
            start = time.perf_counter()
            await client.call_tool("search_memory", call)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def main_async(args: argparse.Namespace) -> None:
    store = f"PostgreSQL schema perf_{args.size}" if args.pg_dsn else f"store-{args.size}"
    kind = "global" if args.everyone else "scoped"
    if args.pg_dsn:
        from _postgres import prewarm

        print(f"{prewarm(args.pg_dsn, f'perf_{args.size}'):.0f} MB prewarmed (perf_postgres.py)")
    for round_ in range(1, args.rounds + 1):
        for name, tree in (("A", args.a), ("B", args.b)):
            ms = await median_ms(tree.resolve(), args)
            print(f"round {round_}, {name} ({tree}): {kind} search p50 {ms:.1f} ms on {store}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a", type=Path, help="the first checkout (e.g. before a change)")
    parser.add_argument("b", type=Path, help="the second checkout")
    parser.add_argument("--size", type=int, default=100_000, help="store size (default 100000)")
    parser.add_argument("--pg-dsn", help="the PostgreSQL server perf.py moved the store to")
    parser.add_argument("--global", dest="everyone", action="store_true", help="global searches")
    parser.add_argument("--searches", type=int, default=80, help="searches a round (default 80)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()

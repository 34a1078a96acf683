"""What a new user feels: spawn to tool list, the first search after a cold start, a warm search.

Drives `mcp-memory serve` over stdio with the SDK's client on a fresh temporary data dir.
Run: python benchmarks/first_use.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters


def params(data_dir: str) -> StdioServerParameters:
    exe = shutil.which("mcp-memory")
    command, args = (exe, ["serve"]) if exe else (sys.executable, ["-m", "mcp_memory", "serve"])
    env = {**os.environ, "MCP_MEMORY_DATA_DIR": data_dir, "MCP_MEMORY_LOG_LEVEL": "WARNING"}
    return StdioServerParameters(command=command, args=args, env=env)


async def one_run(data_dir: str) -> tuple[float, float, float]:
    started = time.perf_counter()
    async with Client(params(data_dir)) as client:
        await client.list_tools()
        listed = time.perf_counter() - started
        await client.call_tool("search_memory", {"query": "what does the user like?"})
        first = time.perf_counter() - started
        # Warm means the vector index open too: the server opens it once the first search is
        # answered, and stats waits for it (searches meanwhile share the CPU with that).
        await client.call_tool("stats", {})
        warm = []
        for i in range(20):
            t = time.perf_counter()
            await client.call_tool("search_memory", {"query": f"question number {i} about coffee"})
            warm.append(time.perf_counter() - t)
    return listed, first, statistics.median(warm)


async def main(runs: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Client(params(tmp)) as client:  # seed a few memories once
            for text in ["The user likes dark roast coffee", "The user's cat is named Miso"]:
                await client.call_tool("add_memory", {"content": text})
        for _ in range(runs):
            rows.append(await one_run(tmp))
    names = ["spawn -> tool list", "spawn -> first search answered", "warm search (median of 20)"]
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        print(
            f"{name:<34} median {statistics.median(values) * 1000:8.1f} ms   "
            f"max {max(values) * 1000:8.1f} ms   ({runs} runs)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    anyio.run(main, parser.parse_args().runs)

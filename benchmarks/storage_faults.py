"""The two measurements behind the storage-fault choices (README, Troubleshooting).

``checks``: what SQLite's ``quick_check`` and ``integrity_check`` cost on a ledger of N memories
(the first gates a process's first write, the second is doctor's). Builds the ledger with the
synthetic memories, without vectors (the checks read the ledger alone).

``full-disk``: how often the real server hangs when adds fill a small disk, with a given reserve
(``disk.min_free_mb``). Mounts an 8 MiB tmpfs per run (root only), adds until the server
refuses, and counts calls that did not answer within the deadline.

Run: python benchmarks/storage_faults.py checks [--memories 100000]
     python benchmarks/storage_faults.py full-disk [--runs 6] [--reserve-mb 1]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import memories

from mcp_memory.config import ImportanceSettings, LimitSettings, RetentionSettings
from mcp_memory.ledger import Ledger
from mcp_memory.policy import admission, validation
from mcp_memory.store.records import ImportRow


def checks(total: int) -> None:
    path = Path(tempfile.mkdtemp()) / "ledger.sqlite3"
    ledger, now, batch = Ledger(path), datetime.now(UTC), []
    started = time.monotonic()
    for record in memories(total, 1000):
        memory = admission.new_memory(
            record["content"], record["user_id"], None, record["session_id"],
            record["memory_type"], record["category"], record["metadata"], None, None,
            record["created_at"], now=now, limits=LimitSettings(),
            scores=ImportanceSettings(), tiers=RetentionSettings(),
        )  # fmt: skip
        batch.append(ImportRow(memory, validation.content_hash(memory.content)))
        if len(batch) == 2000:
            ledger.import_batch(batch)
            batch = []
    ledger.import_batch(batch)
    ledger.close()
    size = path.stat().st_size / 1_048_576
    print(f"{total} memories, {size:.0f} MiB, built in {time.monotonic() - started:.0f} s")
    for pragma in ("quick_check", "integrity_check") * 2:
        conn = sqlite3.connect(path)
        started = time.monotonic()
        verdict = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
        print(f"  {pragma}: {1000 * (time.monotonic() - started):.0f} ms ({verdict})")
        conn.close()


async def fill_once(disk: Path, reserve_mb: float, deadline_s: float) -> str:
    env = {
        **os.environ,
        "MCP_MEMORY_DATA_DIR": str(disk / "data"),
        "MCP_MEMORY_DISK__MIN_FREE_MB": str(reserve_mb),
        "MCP_MEMORY_LOG_LEVEL": "ERROR",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "mcp_memory", "serve"])
    params.env = env
    pad = "lorem ipsum dolor sit amet " * 20
    async with Client(params) as client:
        for n in range(5000):
            with anyio.move_on_after(deadline_s) as waited:
                result = await client.call_tool("add_memory", {"content": f"{n} {pad}"})
            if waited.cancelled_caught:
                return f"hung at add {n}"
            if result.is_error:
                return f"refused at add {n}: {result.content[0].text[:90]}"
    return "never filled"


def full_disk(runs: int, reserve_mb: float, deadline_s: float) -> None:
    hung = 0
    for run in range(runs):
        disk = Path(tempfile.mkdtemp())
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
        try:
            outcome = anyio.run(fill_once, disk, reserve_mb, deadline_s)
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)
        hung += outcome.startswith("hung")
        print(f"run {run + 1}: {outcome}")
    print(f"{hung} of {runs} runs hung (reserve {reserve_mb} MiB, deadline {deadline_s} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("checks").add_argument("--memories", type=int, default=100_000)
    disk = sub.add_parser("full-disk")
    disk.add_argument("--runs", type=int, default=6)
    disk.add_argument("--reserve-mb", type=float, default=1.0)
    disk.add_argument("--deadline-s", type=float, default=30.0)
    args = parser.parse_args()
    if args.what == "checks":
        checks(args.memories)
    else:
        full_disk(args.runs, args.reserve_mb, args.deadline_s)


if __name__ == "__main__":
    main()

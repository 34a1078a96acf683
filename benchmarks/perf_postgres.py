"""`perf.py --backend postgres`: the same figures with PostgreSQL (pgvector) as the store,
printed beside SQLite's in the same run, and the throughput of several servers on one database.

Each SQLite store perf.py built is moved to a PostgreSQL schema with ``mcp-memory migrate``'s
code (the same memories and vectors, no re-embedding, the sessions judged as an import judges
them), vacuumed, its tables and indexes read into the shared buffers (``prewarm``: the
database as it is in use, not just started), then measured through MCP stdio as the SQLite
store was (figures named "[postgres] ..."). Throughput: HTTP servers on one database,
eight clients each searching for a fixed time; total searches per second for one server and
for three.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import synthetic
from _postgres import postgres_dsn, prewarm, storage, storage_env, vacuum
from mcp.client import Client

from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from mcp_memory.transfer.migrate import migrate


async def measure_postgres(
    perf: ModuleType, run: Any, stores: dict[int, Path], args: Any, embedder: Any
) -> None:
    with postgres_dsn(args.pg_dsn) as dsn:
        schemas = {}
        for size, data_dir in stores.items():
            print(f"[postgres] moving {size:,} memories ...", file=sys.stderr)
            schemas[size] = storage(dsn, f"perf_{size}")
            rate = move(data_dir, schemas[size], embedder)
            vacuum(dsn, schemas[size]["schema"])
            run.add(perf.Figure(f"[postgres] migrate, {size:,} memories", "memories/s", [rate]))
        for size, data_dir in stores.items():
            warmed = prewarm(dsn, schemas[size]["schema"])
            print(f"[postgres] measuring {size:,} ({warmed:.0f} MB prewarmed) ...", file=sys.stderr)
            perf.STORAGE_ENV.update(storage_env(schemas[size]))
            try:
                await perf.measure_store(
                    run, data_dir, size, args.users, perf.Floor(data_dir, embedder),
                    args.repeat, big=size == max(stores), prefix="[postgres] ",
                )  # fmt: skip
            finally:
                perf.STORAGE_ENV.clear()
        largest = max(stores)
        env = storage_env(schemas[largest])
        for servers in (1, 3):
            print(f"[postgres] throughput, {servers} server(s) x 8 clients ...", file=sys.stderr)
            rate = await throughput(perf, stores[largest], env, servers, args)
            run.add(
                perf.Figure(
                    f"[postgres] HTTP searches/s, {servers} server(s) x 8 clients, "
                    f"{largest:,} memories",
                    "searches/s",
                    [rate],
                    higher_is_better=True,
                )
            )


def move(data_dir: Path, target_storage: dict[str, Any], embedder: Any) -> float:
    """Copy a SQLite store into a PostgreSQL schema; memories per second."""
    source = build_service(load_settings(data_dir=data_dir), embedder=embedder)
    target = build_service(
        load_settings(data_dir=data_dir, storage=target_storage), embedder=embedder
    )
    try:
        start = time.perf_counter()
        report = migrate(
            source, target, target.index_sync.apply, batch_size=1000, judge=target.judge_sessions
        )
        return report.memories / (time.perf_counter() - start)
    finally:
        target.close()
        source.close()


async def throughput(
    perf: ModuleType, data_dir: Path, env: dict[str, str], servers: int, args: Any
) -> float:
    """Searches per second over ``args.throughput_s`` seconds: ``servers`` HTTP servers on the
    database, eight clients each, each client searching one user's scope in a loop."""
    ports = [perf.free_port() for _ in range(servers)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mcp_memory",
                "serve",
                "--transport",
                "http",
                "--port",
                str(port),
                "--no-auth",  # loopback; a bearer token is the default since issue 20
            ],
            env={**os.environ, **perf.server_env(data_dir), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    user_ids = synthetic.user_ids(args.users)
    queries = iter(synthetic.queries(1_000_000, seed=servers))
    done = 0
    try:
        for port in ports:
            await _ready(perf, f"http://127.0.0.1:{port}/mcp")
        deadline = time.monotonic() + args.throughput_s

        async def client(url: str) -> None:
            nonlocal done
            async with Client(url) as connected:
                while time.monotonic() < deadline:
                    arguments = {"query": next(queries), "user_id": random.choice(user_ids)}
                    await perf.timed_call(connected, "search_memory", arguments)
                    done += 1

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for port in ports:
                for _ in range(8):
                    group.start_soon(client, f"http://127.0.0.1:{port}/mcp")
        return done / (time.monotonic() - started)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


async def _ready(perf: ModuleType, url: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            async with Client(url) as client:
                await perf.warm_up(client, {"query": "warm up"})
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.2)

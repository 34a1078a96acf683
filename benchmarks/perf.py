"""Speed of mcp-memory through a real MCP client, next to the floor each figure could reach.

    python benchmarks/perf.py                      # 1k, 10k and 100k memories (100 users)
    python benchmarks/perf.py --sizes 1000,10000   # quicker
    python benchmarks/perf.py --vector chroma,qdrant   # both vector engines, same run

For each size it builds a store of synthetic memories through the bulk path (``import``), then
spawns ``mcp-memory serve`` and measures through the SDK's stdio client: spawn to tool list,
spawn to first search, warm searches in one user's scope and globally, single adds, ``stats``,
``consolidate`` of one 1k-memory scope, and the server's peak RSS (VmHWM). Over streamable HTTP
it compares one client's search latency with eight concurrent clients'. The floor of a figure
is the least work it needs, measured in this same run: encoding the query with the same model
plus an in-process numpy brute-force cosine over the same vectors (searches), a bare encode
(adds, bulk), a bare Python start importing the MCP SDK (tool list), loading the model in a
fresh process (first search). Results print as a table and are saved under benchmarks/results/.

``--vector`` names the vector engines to measure (default chroma); figures of an engine other
than Chroma carry its name in brackets. With several engines, the stores of the later ones are
built from the vectors the first one's import computed (same texts, same model: the same
vectors), so their "bulk import" figure is the ledger and index writes alone, marked
"(vectors reused)", with no floor or target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import numpy as np
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from _bench import PreEmbedder

from mcp_memory.cli.main import for_bulk
from mcp_memory.config import Settings, load_settings
from mcp_memory.factory import CHROMA_DIR, build_embedder, build_service
from mcp_memory.store.records import MemoryFilter
from mcp_memory.vectors.chroma import scoped_file

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Figure:
    name: str
    unit: str
    samples: list[float]
    floor: float | None = None
    target: str = ""
    ok: bool | None = None
    higher_is_better: bool = False

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Run:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(f"  {figure.name}: median {figure.median:.3g} {figure.unit}", file=sys.stderr)
        return figure


def ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


STORAGE_ENV: dict[str, str] = {}
"""Variables naming the storage the servers use (``--backend postgres``: set while measuring
PostgreSQL, see perf_postgres.py)."""


def server_env(data_dir: Path, engine: str = "chroma") -> dict[str, str]:
    env = {
        "MCP_MEMORY_DATA_DIR": str(data_dir),
        "MCP_MEMORY_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PATH": os.environ.get("PATH", ""),
        **STORAGE_ENV,
    }
    if engine != "chroma":
        env["MCP_MEMORY_VECTOR__BACKEND"] = engine
    return env


def stdio(data_dir: Path, engine: str = "chroma") -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_memory", "serve"],
        env=server_env(data_dir, engine),
    )


def label(engine: str) -> str:
    """What a figure's name says of its engine: nothing for Chroma (names as before)."""
    return "" if engine == "chroma" else f" [{engine}]"


def store_dir(size: int, engine: str) -> Path:
    return RESULTS / (f"store-{size}" if engine == "chroma" else f"store-{size}-{engine}")


def child_pids(marker: str) -> list[int]:
    """Our child processes whose command line holds ``marker``."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and marker in cmd:
            found.append(int(entry.name))
    return found


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


# -- building stores -------------------------------------------------------------------------


def build_store(
    data_dir: Path, size: int, users: int, engine: str = "chroma", embedder=None
) -> tuple[float, float]:
    """Import ``size`` synthetic memories through the bulk path, as ``mcp-memory import`` does,
    into the ``engine`` given (with ``embedder``, if given: one that remembers its vectors).

    Returns memories per second, and the floor: a bare batched encode of 2,048 of the same
    texts by the same embedder, in texts per second.
    """
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = for_bulk(load_settings(data_dir=data_dir, vector={"backend": engine}))
    service = build_service(settings, embedder=embedder)
    records = list(synthetic.memories(size, users))
    service.embedder.embed(["warm up"])
    _ = service.index
    start = time.perf_counter()
    report = service.import_records(records, batch_size=settings.performance.import_batch_size)
    rate = size / (time.perf_counter() - start)
    assert report.imported == size, report
    texts = [r["content"] for r in records[:2048]]
    encoder = getattr(service.embedder, "inner", service.embedder)  # not a remembering one
    start = time.perf_counter()
    encoder.embed(texts)
    floor = len(texts) / (time.perf_counter() - start)
    service.close()
    (data_dir / "import-rate.json").write_text(json.dumps({"rate": rate, "floor": floor}))
    return rate, floor


# -- floors ----------------------------------------------------------------------------------


def subprocess_seconds(code: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


class Floor:
    """The same model and the same vectors, used directly in this process."""

    def __init__(self, data_dir: Path, embedder=None, engine: str = "chroma"):
        self.embedder = embedder or build_embedder(load_settings(data_dir=data_dir))
        self.embedder.embed(["warm up"])
        if engine != "chroma":
            self._from_index(data_dir, engine)
            return
        path = data_dir / CHROMA_DIR / scoped_file(Settings().vector.collection)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("SELECT id, user_id, vector FROM vectors").fetchall()
        self.users = np.array([r[1] for r in rows])
        self.matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(
            len(rows), -1
        )

    def _from_index(self, data_dir: Path, engine: str) -> None:
        """The vectors of a store without Chroma's scoped copy, read through its index."""
        settings = load_settings(data_dir=data_dir, vector={"backend": engine})
        service = build_service(settings, embedder=self.embedder)
        ids = service.ledger.ids(MemoryFilter())
        vectors = service.index.vectors(ids)
        rows = service.ledger.get_many(ids)
        service.close()
        self.users = np.array([rows[i].user_id for i in ids])
        self.matrix = np.stack([vectors[i] for i in ids])

    def search_ms(self, query: str, user: str | None, k: int = 10) -> float:
        start = time.perf_counter()
        qvec = self.embedder.embed([query])[0]
        matrix = self.matrix if user is None else self.matrix[self.users == user]
        sims = matrix @ qvec
        k = min(k, len(sims) - 1)
        top = np.argpartition(-sims, k)[:k]
        top[np.argsort(-sims[top])]
        return ms_since(start)

    def encode_ms(self, text: str) -> float:
        start = time.perf_counter()
        self.embedder.embed([text])
        return ms_since(start)


# -- through the MCP client ------------------------------------------------------------------


async def timed_call(client: Client, tool: str, args: dict) -> float:
    start = time.perf_counter()
    result = await client.call_tool(tool, args)
    elapsed = ms_since(start)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {result.content}")
    return elapsed


async def warm_up(client: Client, search: dict) -> None:
    """Bring a new server to the warm state the figures measure: the model loaded (a search)
    and the vector index open. The server opens the index itself at its first quiet moment;
    ``stats`` reads the index's count, so it returns once the index is open."""
    await client.call_tool("search_memory", search)
    await client.call_tool("stats", {})


async def cold_start(
    data_dir: Path, repeat: int, engine: str = "chroma"
) -> tuple[list[float], list[float]]:
    """Spawn to tool list, and spawn to first search answered, in seconds."""
    listed, searched = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        async with Client(stdio(data_dir, engine)) as client:
            await client.list_tools()
            listed.append(time.perf_counter() - start)
            await client.call_tool("search_memory", {"query": "what does the user like?"})
            searched.append(time.perf_counter() - start)
    return listed, searched


async def measure_store(
    run: Run,
    data_dir: Path,
    size: int,
    users: int,
    floor: Floor,
    repeat: int,
    big: bool,
    engine: str = "chroma",
    prefix: str = "",
) -> None:
    run = Labelled(run, prefix) if prefix else run
    rng = random.Random(size)
    user_ids = synthetic.user_ids(users)
    queries = iter(synthetic.queries(100_000, seed=size))
    tag = label(engine)
    async with Client(stdio(data_dir, engine)) as client:
        await warm_up(client, {"query": "warm up", "user_id": user_ids[0]})
        scoped, scoped_floor, everywhere, everywhere_floor = [], [], [], []
        for _ in range(repeat):
            user = rng.choice(user_ids)
            query = next(queries)
            scoped.append(
                await timed_call(client, "search_memory", {"query": query, "user_id": user})
            )
            scoped_floor.append(floor.search_ms(next(queries), user))
            query = next(queries)
            everywhere.append(await timed_call(client, "search_memory", {"query": query}))
            everywhere_floor.append(floor.search_ms(next(queries), None))
        target = {1000: "", 10_000: "<= 20 ms", 100_000: "<= 30 ms"}.get(size, "")
        run.add(
            _vs(f"search, one user's scope, {size:,} memories{tag}", scoped, scoped_floor, target)
        )
        run.add(
            _vs(
                f"search, global scope, {size:,} memories{tag}",
                everywhere,
                everywhere_floor,
                target,
            )
        )
        adds, add_floor = [], []
        for i in range(max(repeat // 2, 10)):
            text = f"User {i} mentioned a new preference for {rng.choice(synthetic.FOODS)} ({size}-{i})"
            adds.append(
                await timed_call(
                    client, "add_memory", {"content": text, "user_id": rng.choice(user_ids)}
                )
            )
            add_floor.append(floor.encode_ms(text))
        run.add(_vs(f"add_memory, {size:,} memories{tag}", adds, add_floor, "<= 25 ms"))
        if big:
            stats = [await timed_call(client, "stats", {}) for _ in range(max(repeat // 3, 10))]
            run.add(Figure(f"stats, {size:,} memories{tag}", "ms", stats, target="<= 50 ms"))
            consolidate = [
                await timed_call(client, "consolidate", {"user_id": user}) for user in user_ids[-3:]
            ]
            per_scope = size // users
            run.add(
                Figure(
                    f"consolidate one scope of {per_scope:,} memories{tag}",
                    "ms",
                    consolidate,
                    target="<= 2000 ms",
                )
            )
            pids = child_pids("mcp_memory serve")
            run.add(
                Figure(
                    f"server peak RSS (VmHWM), {size:,} memories{tag}",
                    "MB",
                    [vm_hwm_mb(pids[0])],
                    target="<= 800 MB",
                )
            )


class Labelled:
    """A run whose figures' names start with a label (the storage engine measured)."""

    def __init__(self, run: Run, label: str):
        self._run, self._label = run, label

    def add(self, figure: Figure) -> Figure:
        figure.name = f"{self._label}{figure.name}"
        return self._run.add(figure)


def _vs(name: str, samples: list[float], floor: list[float], target: str) -> Figure:
    return Figure(name, "ms", samples, floor=statistics.median(floor), target=target)


# -- HTTP concurrency ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def http_concurrency(
    run: Run, data_dir: Path, users: int, repeat: int, engine: str = "chroma"
) -> None:
    port = free_port()
    env = {**os.environ, **server_env(data_dir, engine)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_memory", "serve", "--transport", "http", "--port", str(port),
         "--no-auth"],  # loopback; a bearer token is the default since issue 20
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    user_ids = synthetic.user_ids(users)
    queries = iter(synthetic.queries(100_000, seed=99))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                async with Client(url) as client:
                    await warm_up(client, {"query": "warm up"})
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await anyio.sleep(0.2)

        async def one_client(count: int, out: list[float]) -> None:
            async with Client(url) as client:
                for _ in range(count):
                    args = {"query": next(queries), "user_id": random.choice(user_ids)}
                    out.append(await timed_call(client, "search_memory", args))

        single: list[float] = []
        await one_client(repeat, single)
        eight: list[float] = []
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one_client, max(repeat // 4, 5), eight)
        first = run.add(Figure(f"HTTP search, 1 client{label(engine)}", "ms", single))
        run.add(
            Figure(
                f"HTTP search, 8 concurrent clients{label(engine)}",
                "ms",
                eight,
                floor=first.median,
                target="<= 2x one client",
            )
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- the report ------------------------------------------------------------------------------


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem = next(
        int(line.split()[1]) // 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    import importlib.metadata

    import chromadb
    import torch

    qdrant = ""
    for package in ("qdrant-edge-py", "qdrant-client"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            qdrant += f", {package} {importlib.metadata.version(package)}"
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem / 1024:.1f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"chromadb {chromadb.__version__}{qdrant}; load average at start "
        f"{os.getloadavg()[0]:.1f}"
    )


def table(run: Run) -> str:
    lines = [
        "| figure | median | p95 | floor | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for f in run.figures:
        fmt = (lambda v: f"{v:,.0f}") if f.median >= 100 else (lambda v: f"{v:.3g}")
        floor = "" if f.floor is None else f"{fmt(f.floor)} {f.unit}"
        ratio = "" if not f.floor else f"{f.median / f.floor:.2f}x"
        met = "" if f.ok is None else ("yes" if f.ok else "**no**")
        lines.append(
            f"| {f.name} | {fmt(f.median)} {f.unit} | {fmt(f.p95)} {f.unit} | {floor} | {ratio} "
            f"| {f.target} | {met} |"
        )
    return "\n".join(lines)


def build_stores(
    run: Run, sizes: list[int], engines: list[str], args: argparse.Namespace
) -> dict[tuple[int, str], Path]:
    """Each engine's store of each size, built (or reused with ``--reuse``), with its bulk
    import figure. After the first engine, the stores are built from the vectors its import
    computed (an embedder that remembers them), or all of them from ``--vectors``: the import
    figure is then the writes alone, marked "(vectors reused)"."""
    remembering = None
    if args.vectors or len(engines) > 1:
        remembering = PreEmbedder(build_embedder(for_bulk(Settings())), [])
    if args.vectors:
        cached = np.load(args.vectors)
        texts = [r["content"] for r in synthetic.memories(len(cached["matrix"]), args.users)]
        remembering = PreEmbedder.seeded(remembering.inner, texts, cached["matrix"])
    stores = {}
    for size in sizes:
        for engine in engines:
            data_dir = store_dir(size, engine)
            if args.reuse and (data_dir / "import-rate.json").exists():
                built = json.loads((data_dir / "import-rate.json").read_text())
                rate, encode_rate = built["rate"], built["floor"]
                print(f"reusing {data_dir} (built at {rate:.0f} memories/s)", file=sys.stderr)
            else:
                print(f"building {size:,} memories{label(engine)} ...", file=sys.stderr)
                texts = [r["content"] for r in synthetic.memories(size, args.users)]
                known = remembering is not None and remembering.knows(texts)
                rate, encode_rate = build_store(data_dir, size, args.users, engine, remembering)
                built = {"rate": rate, "floor": encode_rate, "reused": known}
                (data_dir / "import-rate.json").write_text(json.dumps(built))
            reused = built.get("reused", False)
            name = f"bulk import, {size:,} memories{label(engine)}"
            run.add(
                Figure(
                    name + (" (vectors reused)" if reused else ""),
                    "memories/s",
                    [rate],
                    floor=None if reused else encode_rate,
                    target="" if reused else ">= 500/s",
                    higher_is_better=True,
                )
            )
            stores[(size, engine)] = data_dir
    return stores


def judge(run: Run, model_load_s: float) -> None:
    """Mark each figure that has a target as met or not."""
    for f in run.figures:
        m = f.median
        if f.target == "<= model load + 1 s":
            f.ok = m <= model_load_s + 1
        elif f.target.startswith("<= ") and f.target.endswith((" ms", " MB", " s")):
            limit = float(f.target.split()[1].replace(",", ""))
            f.ok = m <= limit and (f.unit != "ms" or "search" not in f.name or f.p95 <= 2 * m)
        elif f.target == "<= model load + 1 s":
            f.ok = m <= model_load_s + 1
        elif f.target == ">= 500/s":
            f.ok = m >= 500
        elif f.target == "<= 2x one client" and f.floor:
            f.ok = m <= 2 * f.floor


async def main_async(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.vector.split(",")
    RESULTS.mkdir(parents=True, exist_ok=True)
    run = Run()
    header = machine()
    print(f"machine: {header}", file=sys.stderr)
    stores = build_stores(run, sizes, engines, args)
    largest = {engine: stores[(max(sizes), engine)] for engine in engines}
    floor = Floor(largest[engines[0]], engine=engines[0])
    print("cold starts ...", file=sys.stderr)
    sdk = subprocess_seconds("import mcp.server.mcpserver", args.cold)
    load = subprocess_seconds(
        "from mcp_memory.factory import build_embedder; from mcp_memory.config import Settings; "
        "build_embedder(Settings()).embed(['warm up'])",
        args.cold,
    )
    model_load_s = statistics.median(load)
    for engine in engines:
        listed, searched = await cold_start(largest[engine], args.cold, engine)
        run.add(
            Figure(
                f"spawn to tool list (cold){label(engine)}",
                "s",
                listed,
                floor=statistics.median(sdk),
                target="<= 1 s",
            )
        )
        run.add(
            Figure(
                f"spawn to first search answered{label(engine)}",
                "s",
                searched,
                floor=model_load_s,
                target="<= model load + 1 s",
            )
        )
    for (size, engine), data_dir in stores.items():
        print(f"measuring {size:,}{label(engine)} ...", file=sys.stderr)
        await measure_store(
            run,
            data_dir,
            size,
            args.users,
            Floor(data_dir, floor.embedder, engine),
            args.repeat,
            big=size == max(sizes),
            engine=engine,
        )
    print("HTTP concurrency ...", file=sys.stderr)
    middle = sorted(sizes)[len(sizes) // 2]
    await http_concurrency(run, stores[(middle, engines[0])], args.users, args.repeat, engines[0])
    if args.backend == "postgres":
        from perf_postgres import measure_postgres

        chroma = {size: d for (size, engine), d in stores.items() if engine == engines[0]}
        await measure_postgres(sys.modules[__name__], run, chroma, args, floor.embedder)
    judge(run, model_load_s)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = f"Machine: {header}\n\n{table(run)}\n"
    (RESULTS / f"perf-{stamp}.md").write_text(report)
    (RESULTS / f"perf-{stamp}.json").write_text(
        json.dumps(
            {
                "machine": header,
                "model_load_s": model_load_s,
                "figures": [f.__dict__ | {"median": f.median, "p95": f.p95} for f in run.figures],
            },
            indent=2,
        )
    )
    print(report)
    if not (args.keep or args.reuse):
        for data_dir in stores.values():
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="store sizes (default 1000,10000,100000)"
    )
    parser.add_argument(
        "--users", type=int, default=100, help="users the memories belong to (default 100)"
    )
    parser.add_argument("--repeat", type=int, default=60, help="calls per warm figure (default 60)")
    parser.add_argument("--cold", type=int, default=5, help="cold starts to time (default 5)")
    parser.add_argument(
        "--vectors",
        type=Path,
        help="build every store from these embeddings of the synthetic memories (an .npz with "
        "'matrix', as benchmarks/qdrant_engines.py keeps them) instead of encoding them",
    )
    parser.add_argument(
        "--vector",
        default="chroma",
        help="vector engines to measure, comma-separated: chroma, qdrant (default chroma)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the stores in benchmarks/results/"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse stores kept by an earlier --keep run (with the import rate measured then)",
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: also measure each store moved to PostgreSQL, beside SQLite's figures",
    )
    parser.add_argument("--pg-dsn", help="a PostgreSQL server (default: start an embedded one)")
    parser.add_argument(
        "--throughput-s", type=float, default=20, help="seconds per throughput figure"
    )
    anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()

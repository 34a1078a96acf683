"""LoCoMo recall@k of search_memory, against dense, BM25 and RRF baselines on the same data.

Drives the server the way an agent logging a conversation would: each dialog turn is one
``add_memory`` ("Speaker: text", plus " [shares a photo: CAPTION]" for a shared photo;
user_id = the conversation, session_id = the session, episodic, created_at = the session's date
plus one second per turn, metadata {"dia_id": ...}); each question (categories 1-4) is one
``search_memory(query, user_id=conversation, limit=10)``. Recall@k is the share of a
question's evidence turns in the top k, averaged over questions.

The headline figures go through a real MCP stdio client against ``mcp-memory serve``. The
baselines (dense cosine with the same model, plain BM25, their reciprocal-rank fusion) and the
in-process figures (the same ``MemoryService``, called directly) come from the same data in the
same run. It also runs the fact-style set (fact_recall.py) and times warm searches.

    python benchmarks/locomo_recall.py [--data DIR] [--json OUT] [--skip-mcp]
                                       [--vector chroma,qdrant]

``--vector`` names the vector engines to run mcp-memory on (default chroma), each on a store of
its own in the same run; the figures of an engine other than Chroma carry its name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import BM25, PreEmbedder, recall, rrf, top

from mcp_memory.config import Settings, load_settings
from mcp_memory.factory import build_embedder, build_service

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo"
TUNED_ON = ("conv-26", "conv-30", "conv-41")
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
KS = (1, 5, 10)


@dataclass
class Turn:
    dia_id: str
    content: str
    session: str
    created_at: str


@dataclass
class Question:
    text: str
    evidence: list[str]
    category: int


@dataclass
class Conversation:
    name: str
    turns: list[Turn] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)


def load(data_dir: Path) -> list[Conversation]:
    """Read every conv-*.json: its turns in order, and its questions of categories 1-4."""
    conversations = []
    for path in sorted(data_dir.glob("conv-*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        conv = Conversation(path.stem)
        sessions = sorted(
            (int(m.group(1)), key) for key in raw if (m := re.fullmatch(r"session_(\d+)", key))
        )
        for _, key in sessions:
            start = datetime.strptime(raw[f"{key}_date_time"], "%I:%M %p on %d %B, %Y")
            for i, turn in enumerate(raw[key]):
                content = f"{turn['speaker']}: {turn['text']}"
                if turn.get("blip_caption"):
                    content += f" [shares a photo: {turn['blip_caption']}]"
                at = (start + timedelta(seconds=i)).replace(tzinfo=UTC).isoformat()
                conv.turns.append(Turn(turn["dia_id"], content, key, at))
        known = {t.dia_id for t in conv.turns}
        for qa in raw.get("qa", []):
            if qa.get("category") not in CATEGORIES:
                continue
            evidence = [e.strip() for item in qa.get("evidence", []) for e in item.split(";")]
            evidence = list(dict.fromkeys(e for e in evidence if e in known))
            if evidence:
                conv.questions.append(Question(qa["question"], evidence, qa["category"]))
        conversations.append(conv)
    return conversations


class Tally:
    """Recall@k per question, summarised overall, per category and per conversation split."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, dict[int, float]]] = []

    def add(self, conv: str, category: int, found: list[str], evidence: list[str]) -> None:
        self.rows.append((conv, category, {k: recall(found, evidence, k) for k in KS}))

    def summary(self, convs: set[str] | None = None) -> dict[str, dict[str, float]]:
        rows = [r for r in self.rows if convs is None or r[0] in convs]
        out = {"all": _means([r[2] for r in rows])}
        for cat, name in CATEGORIES.items():
            out[name] = _means([r[2] for r in rows if r[1] == cat])
        out["all"]["n"] = len(rows)
        return out


def _means(rows: list[dict[int, float]]) -> dict[str, float]:
    return {f"r@{k}": round(statistics.fmean(r[k] for r in rows), 4) if rows else 0.0 for k in KS}


def add_kwargs(conv: Conversation, turn: Turn) -> dict:
    return {
        "content": turn.content,
        "user_id": conv.name,
        "session_id": turn.session,
        "memory_type": "episodic",
        "created_at": turn.created_at,
        "metadata": {"dia_id": turn.dia_id},
    }


def run_baselines(convs: list[Conversation], embed: PreEmbedder) -> dict[str, Tally]:
    """Dense cosine, plain BM25 and their RRF, each over one conversation's turns at a time."""
    tallies = {"dense": Tally(), "bm25": Tally(), "rrf": Tally()}
    for conv in convs:
        ids = [t.dia_id for t in conv.turns]
        vectors = embed.embed([t.content for t in conv.turns])
        bm25 = BM25([t.content for t in conv.turns])
        for q in conv.questions:
            dense = top(vectors @ embed.embed_query(q.text), 100)
            keyword = top(bm25.scores(q.text), 100)
            for name, ranking in (
                ("dense", dense),
                ("bm25", keyword),
                ("rrf", rrf([dense, keyword])),
            ):
                tallies[name].add(conv.name, q.category, [ids[i] for i in ranking], q.evidence)
    return tallies


def load_in_process(
    convs: list[Conversation],
    embed: PreEmbedder,
    data_dir: Path,
    engine: str = "chroma",
    storage: dict | None = None,
):
    """A MemoryService on its own data dir (or ``storage``, with its own vectors), loaded with
    every turn through ``add`` (each add hands its vector to the write-behind thread, which
    writes them in batches)."""
    overrides = {"storage": storage} if storage else {"vector": {"backend": engine}}
    settings = load_settings(data_dir=data_dir, **overrides)
    service = build_service(settings, embedder=embed)
    for conv in convs:
        for turn in conv.turns:
            service.add(**add_kwargs(conv, turn))
    service.sync_index()
    return service


def run_in_process(convs: list[Conversation], service) -> tuple[Tally, list[float]]:
    tally, times = Tally(), []
    for conv in convs:
        for q in conv.questions:
            start = time.perf_counter()
            hits = service.search(q.text, user_id=conv.name, limit=10).results
            times.append(time.perf_counter() - start)
            tally.add(
                conv.name, q.category, [h.memory.metadata["dia_id"] for h in hits], q.evidence
            )
    return tally, times


async def run_mcp(
    convs: list[Conversation], data_dir: Path, engine: str = "chroma"
) -> tuple[Tally, list[float], float]:
    """The headline: load and query through a real MCP stdio client against `mcp-memory serve`."""
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_memory", "serve", "--data-dir", str(data_dir)],
        env={
            "HF_HUB_OFFLINE": "1",
            "MCP_MEMORY_LOG_LEVEL": "WARNING",
            "MCP_MEMORY_VECTOR__BACKEND": engine,
        },
    )
    tally, times = Tally(), []
    async with Client(params) as client:
        start = time.perf_counter()
        for conv in convs:
            for turn in conv.turns:
                result = await client.call_tool("add_memory", add_kwargs(conv, turn))
                if result.is_error:
                    raise RuntimeError(f"add_memory failed: {result.content}")
        load_seconds = time.perf_counter() - start
        for conv in convs:
            for q in conv.questions:
                start = time.perf_counter()
                result = await client.call_tool(
                    "search_memory", {"query": q.text, "user_id": conv.name, "limit": 10}
                )
                times.append(time.perf_counter() - start)
                if result.is_error:
                    raise RuntimeError(f"search_memory failed: {result.content}")
                hits = result.structured_content["results"]
                found = [h["memory"]["metadata"]["dia_id"] for h in hits]
                tally.add(conv.name, q.category, found, q.evidence)
    return tally, times, load_seconds


def table(results: dict[str, dict[str, dict[str, float]]], title: str) -> str:
    cols = ["all", *CATEGORIES.values()]
    width = max(22, *(len(name) + 1 for name in results))
    lines = [title, f"{'system':<{width}}" + "".join(f"{c:>24}" for c in cols)]
    lines.append(f"{'':<{width}}" + "".join(f"{'r@1   r@5   r@10':>24}" for _ in cols))
    for name, summary in results.items():
        cells = "".join(
            f"{summary[c]['r@1']:>8.3f}{summary[c]['r@5']:>6.3f}{summary[c]['r@10']:>6.3f}    "
            for c in cols
        )
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of conv-*.json")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--skip-mcp", action="store_true", help="in-process figures only")
    parser.add_argument(
        "--vector", default="chroma", help="vector engines, comma-separated (default chroma)"
    )
    parser.add_argument(
        "--backend",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: the in-process figures on PostgreSQL too, beside SQLite's",
    )
    parser.add_argument("--pg-dsn", help="a PostgreSQL server (default: start an embedded one)")
    args = parser.parse_args(argv)

    convs = load(args.data)
    if not convs:
        parser.error(f"no conv-*.json in {args.data}")
    names = {c.name for c in convs}
    splits = {
        "all": None,
        "tuned (" + ", ".join(sorted(names & set(TUNED_ON))) + ")": names & set(TUNED_ON),
        "held out (" + ", ".join(sorted(names - set(TUNED_ON))) + ")": names - set(TUNED_ON),
    }
    n_q = sum(len(c.questions) for c in convs)
    n_t = sum(len(c.turns) for c in convs)
    print(f"{len(convs)} conversations, {n_t} turns, {n_q} questions", flush=True)

    started = time.perf_counter()
    embedder = build_embedder(Settings())
    texts = [t.content for c in convs for t in c.turns] + [
        q.text for c in convs for q in c.questions
    ]
    embed = PreEmbedder(embedder, texts)
    print(f"embedded {len(texts)} texts in {time.perf_counter() - started:.0f} s", flush=True)
    tallies = {f"baseline {k}": v for k, v in run_baselines(convs, embed).items()}

    figures: dict = {"questions": n_q, "turns": n_t, "splits": {}}
    for engine in args.vector.split(","):
        tag, key = ("", "") if engine == "chroma" else (f" [{engine}]", f"{engine}_")
        with tempfile.TemporaryDirectory() as tmp:
            service = load_in_process(convs, embed, Path(tmp) / "in-process", engine)
            tallies[f"mcp-memory (in-process){tag}"], inproc_times = run_in_process(convs, service)
            service.close()
            if not args.skip_mcp:
                run = run_mcp(convs, Path(tmp) / "mcp", engine)
                mcp_tally, mcp_times, load_s = asyncio.run(run)
                tallies[f"mcp-memory (MCP stdio){tag}"] = mcp_tally
                figures[f"{key}mcp_load_seconds"] = round(load_s, 1)
                figures[f"{key}mcp_search_ms"] = _latency(mcp_times)
        figures[f"{key}in_process_search_ms"] = _latency(inproc_times)
    if args.backend == "postgres":
        from _postgres import postgres_dsn, storage

        with tempfile.TemporaryDirectory() as tmp, postgres_dsn(args.pg_dsn) as dsn:
            service = load_in_process(convs, embed, Path(tmp) / "pg", storage=storage(dsn))
            tallies["mcp-memory (in-process, PostgreSQL)"], pg_times = run_in_process(
                convs, service
            )
            service.close()
        figures["in_process_postgres_search_ms"] = _latency(pg_times)

    for split, convset in splits.items():
        results = {name: t.summary(convset) for name, t in tallies.items()}
        figures["splits"][split] = results
        n = next(iter(results.values()))["all"]["n"]
        print("\n" + table(results, f"LoCoMo recall, {split}: {n} questions"))

    from fact_recall import run_facts

    figures["facts"] = run_facts(embedder)
    print("\nFact-style set:", json.dumps(figures["facts"]))
    print("\nsearch latency (ms):", json.dumps({k: v for k, v in figures.items() if "_ms" in k}))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


def _latency(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "median": round(float(np.median(ms)), 1),
        "p90": round(float(np.percentile(ms, 90)), 1),
        "mean": round(float(ms.mean()), 1),
    }


if __name__ == "__main__":
    main()

"""Fact-style recall: standalone memories must rank at least as well as with dense search.

benchmarks/data/facts.json holds 64 short facts about four users, each with a paraphrased
question. Each fact is one ``add_memory`` (semantic, category fact); each question is one
``search_memory``. Three set-ups: no session (the usual way facts are stored), all of a user's
facts in one session (so each fact's neighbours are unrelated facts), and searching across all
users (no user scope). Compared with dense cosine over the same model.

    python benchmarks/fact_recall.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import PreEmbedder, recall, top

from mcp_memory.config import Settings, load_settings
from mcp_memory.factory import build_embedder, build_service

DATA = Path(__file__).resolve().parent / "data" / "facts.json"


def run_facts(embedder=None) -> dict:
    facts = json.loads(DATA.read_text(encoding="utf-8"))["facts"]
    embedder = embedder or build_embedder(Settings())
    embed = PreEmbedder(embedder, [f["content"] for f in facts] + [f["question"] for f in facts])
    out: dict = {"facts": len(facts), "questions": len(facts)}
    vectors = embed.embed([f["content"] for f in facts])
    for setup in ("no session", "one session per user", "all users"):
        dense, project = [], []
        with tempfile.TemporaryDirectory() as tmp:
            service = build_service(load_settings(data_dir=Path(tmp)), embedder=embed)
            ids = {}
            for f in facts:
                session = "notes" if setup == "one session per user" else None
                added = service.add(
                    f["content"], user_id=f["user"], session_id=session, category="fact"
                )
                ids[added.id] = f["id"]
            for f in facts:
                scope = None if setup == "all users" else f["user"]
                pool = [i for i, g in enumerate(facts) if scope is None or g["user"] == scope]
                order = top(vectors[pool] @ embed.embed_query(f["question"]), 10)
                dense.append([facts[pool[i]]["id"] for i in order])
                hits = service.search(f["question"], user_id=scope, limit=10).results
                project.append([ids[h.id] for h in hits])
            service.close()
        out[setup] = {
            name: {
                f"r@{k}": round(
                    statistics.fmean(
                        recall(r, [f["id"]], k) for r, f in zip(runs, facts, strict=True)
                    ),
                    4,
                )
                for k in (1, 5)
            }
            for name, runs in (("dense", dense), ("mcp-memory", project))
        }
    return out


if __name__ == "__main__":
    print(json.dumps(run_facts(), indent=2))

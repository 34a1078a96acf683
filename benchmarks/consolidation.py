"""What consolidation does to a real conversational memory, and what it costs.

Loads LoCoMo conversations (/work/shared/data/locomo, or --data) as memories: one per turn,
`user_id` = the conversation, `created_at` = the session's date; the clock stands one day after
the last session. Then measures, with the default settings: a dry run, the real run, its undo
(wall time and counts), and retrieval recall@k over the conversation's questions (categories
1-4: is an evidence turn, or the memory it was merged into, among the top k?) before the run,
after it (default search, and with include_archived) and after the undo.

Run: python benchmarks/consolidation.py [--convs conv-26 conv-30] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcp_memory.config import load_settings
from mcp_memory.factory import build_service

DATA = Path("/work/shared/data/locomo")


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def session_turns(conv: dict) -> list[tuple[datetime, dict]]:
    turns = []
    for key, value in conv.items():
        if key.startswith("session_") and isinstance(value, list):
            when = datetime.strptime(conv[f"{key}_date_time"], "%I:%M %p on %d %B, %Y")
            turns.extend((when.replace(tzinfo=UTC), turn) for turn in value)
    return turns


def recall(service, questions, ids, absorbed, user, k: int, archived: bool) -> float:
    hits = 0
    for q in questions:
        found = service.search(q["question"], user_id=user, limit=k, include_archived=archived)
        top = {h.id for h in found.results}
        wanted = {absorbed.get(ids[d], ids[d]) for d in q["evidence"] if d in ids}
        hits += bool(top & wanted)
    return hits / len(questions)


def main(convs: list[str], k: int) -> None:
    loaded = {name: json.loads((DATA / f"{name}.json").read_text()) for name in convs}
    turns = {name: session_turns(conv) for name, conv in loaded.items()}
    last = max(when for ts in turns.values() for when, _ in ts)
    clock = Clock(last + timedelta(days=1))
    with tempfile.TemporaryDirectory() as tmp:
        service = build_service(load_settings(data_dir=tmp), clock=clock)
        ids: dict[str, dict[str, str]] = {}
        started = time.perf_counter()
        for name, ts in turns.items():
            ids[name] = {}
            for when, turn in ts:
                text = f"{turn['speaker']}: {turn['text']}"
                added = service.add(text, user_id=name, created_at=when)
                ids[name][turn["dia_id"]] = added.id
        n = sum(len(t) for t in turns.values())
        print(f"memories: {service.stats().total_memories} from {n} turns "
              f"({time.perf_counter() - started:.1f} s to add)")  # fmt: skip
        questions = {
            name: [q for q in conv["qa"] if q.get("category") != 5 and q.get("evidence")]
            for name, conv in loaded.items()
        }
        nq = sum(len(q) for q in questions.values())

        def score(archived: bool, absorbed: dict[str, str]) -> float:
            total = sum(
                recall(service, questions[c], ids[c], absorbed, c, k, archived) * len(questions[c])
                for c in convs
            )
            return total / nq

        before = score(False, {})
        t = time.perf_counter()
        dry = service.consolidate(dry_run=True)
        dry_s = time.perf_counter() - t
        t = time.perf_counter()
        run = service.consolidate()
        run_s = time.perf_counter() - t
        same = run.actions == dry.actions
        absorbed = {o: a.memory_id for a in run.actions for o in a.other_ids}
        stats = service.stats()
        after_default = score(False, absorbed)
        after_all = score(True, absorbed)
        t = time.perf_counter()
        service.consolidate(undo=run.run_id)
        undo_s = time.perf_counter() - t
        after_undo = score(False, {})
        counts = run.model_dump(exclude={"run_id", "dry_run", "actions", "undone"})
        print(f"run: {counts}")
        print(f"by_stage after the run: {stats.by_stage}; by_retention: {stats.by_retention}")
        print(f"dry run reported the same actions: {same}")
        print(f"time: dry run {dry_s:.2f} s, real run {run_s:.2f} s, undo {undo_s:.2f} s")
        print(f"recall@{k} over {nq} questions: before {before:.3f}; after, default search "
              f"{after_default:.3f}; after, include_archived {after_all:.3f}; "
              f"after undo {after_undo:.3f}")  # fmt: skip
        service.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convs", nargs="+", default=["conv-26", "conv-30"])
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    main(args.convs, args.k)

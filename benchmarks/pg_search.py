"""What a search within one user's scope costs on PostgreSQL, in process: its statements (each a
round trip to the database) and its latency, with nothing cached, as a server meets users it has
not seen (the perf.py figure at 100,000 memories draws a random user of 100 for each search).

    python benchmarks/pg_search.py                     # 5,000 memories of 5 users
    python benchmarks/pg_search.py --size 10000 --users 10 --searches 200

It starts an embedded PostgreSQL (fsync on, as ``perf.py --backend postgres`` does) or uses
``--pg-dsn``, imports synthetic memories (1,000 per user by default: a user's scope as large as
in perf.py's 100,000-memory store), vacuums, then times ``MemoryService.search`` with the
session and term caches emptied before each search, and lists the statements of one of them.
Run it on two commits to compare them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from _postgres import postgres_dsn, storage, vacuum

from mcp_memory.cli.main import for_bulk
from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from mcp_memory.lru import Bounded


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=5000, help="memories (default 5000)")
    parser.add_argument("--users", type=int, default=5, help="users they belong to (default 5)")
    parser.add_argument("--searches", type=int, default=200, help="timed searches (default 200)")
    parser.add_argument("--pg-dsn", help="a PostgreSQL server (default: start an embedded one)")
    args = parser.parse_args()
    with postgres_dsn(args.pg_dsn) as dsn, tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), storage=storage(dsn))
        build(settings, args.size, args.users)
        vacuum(dsn, settings.storage.schema)
        measure(settings, args.users, args.searches)


def build(settings, size: int, users: int) -> None:
    service = build_service(for_bulk(settings))
    try:
        started = time.perf_counter()
        service.import_records(list(synthetic.memories(size, users)), batch_size=1024)
        service.flush()
        print(f"imported {size:,} memories in {time.perf_counter() - started:.0f} s")
    finally:
        service.close()


def measure(settings, users: int, searches: int) -> None:
    service = build_service(settings)
    ids, queries, rng = (
        synthetic.user_ids(users),
        synthetic.queries(searches + 20),
        random.Random(5),
    )
    try:
        for query in queries[:10]:  # the model, the index handle, the pool's connections
            service.search(query, user_id=ids[0])
        times = []
        for query in queries[10 : 10 + searches]:
            service.ledger._members = Bounded(capacity=4096)  # a user not seen before
            service.ledger._term_counts = Bounded(capacity=4096)
            started = time.perf_counter()
            service.search(query, user_id=rng.choice(ids))
            times.append((time.perf_counter() - started) * 1000)
        service.ledger._members = Bounded(capacity=4096)
        service.ledger._term_counts = Bounded(capacity=4096)
        with service.ledger.traced() as statements:
            service.search(queries[-1], user_id=ids[-1])
    finally:
        service.close()
    ordered = sorted(times)
    print(
        f"search within one user's scope, nothing cached: p50 {statistics.median(times):.1f} ms, "
        f"p90 {ordered[int(0.9 * (len(ordered) - 1))]:.1f} ms over {searches} searches; "
        f"{len(statements)} statements:"
    )
    for statement in statements:
        print("  " + " ".join(statement.split())[:100])


if __name__ == "__main__":
    main()

"""Server-side speed of the memory page at 100,000 memories, and what its first load transfers.

    python benchmarks/web.py                        # 100,000 memories (100 users)
    python benchmarks/web.py --size 10000           # quicker
    python benchmarks/web.py --store /tmp/web-100k  # keep the store there (reused next time)

It builds a store of synthetic memories through the bulk path (as ``mcp-memory import``
does), signs in to the page in-process with a bearer token, and times whole requests through
the page's ASGI app (routing, sign-in check, the service call in a worker thread, rendering;
no network): the list view newest first (everything, one user, a type + category + stage
filter, one user and a stage, the second page and a page 90% of the way down, by time), and
searches (everything, one user; the best 20) with
the same ranking as ``search_memory``; next to them, the list query of ``list_memories`` at
that depth by offset, which the page's paging avoids, and the service's search call alone
(what ``search_memory`` costs before the MCP layer). The first load is every byte (status
line, headers, body) of the list page of 50 memories and its two assets, and of the sign-in
page with its assets. Targets (issue 19): <= 100 ms per list view and search answer, <= 200 kB
on first load.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic
from starlette.testclient import TestClient

from mcp_memory.cli.main import for_bulk
from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from mcp_memory.web.app import web_app

TOKEN = "benchmark-token-0123456789"
BASE = "http://127.0.0.1:8766"


def build(store: Path, size: int, users: int):
    """The service over ``store``, filled with ``size`` synthetic memories if it is not yet."""
    settings = load_settings(data_dir=store, security={"tokens": [{"token": TOKEN}]})
    service = build_service(for_bulk(settings))
    have = service.count()
    if have not in (0, size):
        raise SystemExit(f"{store} holds {have} memories, not {size}: use another --store")
    if have == 0:
        start = time.perf_counter()
        service.import_records(synthetic.memories(size, users), batch_size=1024)
        print(f"built {size:,} memories in {time.perf_counter() - start:.0f} s", flush=True)
    service.close()
    return settings, build_service(settings)


def timed(client: TestClient, urls: list[str]) -> list[float]:
    """Milliseconds per request, each answered 200."""
    out = []
    for url in urls:
        start = time.perf_counter()
        answer = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return out


def transfer(client: TestClient, url: str) -> int:
    """Bytes of a page and its assets on the wire (uncompressed: the server does not gzip)."""
    total = 0
    page = client.get(url)
    for answer in [
        page,
        *(client.get(a) for a in re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page.text)),
    ]:
        head = f"HTTP/1.1 {answer.status_code} OK\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in answer.headers.items()
        )
        total += len(head.encode()) + 2 + len(answer.content)
    return total


def after(memory) -> str:
    """The URL of the page after one that ended with ``memory``."""
    return f"/ui/?before={memory.created_at.isoformat().replace('+', '%2B')}&skip=1&page=2"


def row(name: str, samples: list[float], target: float | None = 100.0) -> str:
    median = statistics.median(samples)
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1] if len(samples) > 1 else samples[0]
    verdict = "" if target is None else ("ok" if p95 <= target else "OVER")
    return f"| {name} | {median:.1f} | {p95:.1f} | {verdict} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30, help="requests per figure (default 30)")
    parser.add_argument("--store", type=Path, help="data dir of the store (default: a temp dir)")
    args = parser.parse_args()
    store = args.store or Path(tempfile.mkdtemp(prefix="mcp-memory-web-"))
    settings, service = build(store, args.size, args.users)
    service.warm_up()
    client = TestClient(web_app(service, settings, bind_host="127.0.0.1"), base_url=BASE)
    client.post("/ui/signin", data={"token": TOKEN}, headers={"origin": BASE})
    users = synthetic.user_ids(args.users)
    depth = int(args.size * 0.9)
    deep = service.list(limit=1, offset=depth).memories[0]
    second = service.list(limit=settings.ui.page_size).memories[-1]
    queries = iter(synthetic.queries(10 * args.repeat, seed=5))
    n = args.repeat
    cases = {
        "list, newest first": ["/ui/"] * n,
        "list, one user": [f"/ui/?user_id={users[i % len(users)]}" for i in range(n)],
        "list, type + category + stage": [
            "/ui/?memory_type=semantic&category=preference&stage=active"
        ]
        * n,
        "list, one user + stage": [
            f"/ui/?user_id={users[i % len(users)]}&stage=active" for i in range(n)
        ],
        "list, page 2 (by time)": [after(second)] * n,
        f"list, page at {depth:,} (by time)": [after(deep)] * n,
        "search, everything": [f"/ui/?q={next(queries)}" for _ in range(n)],
        "search, one user": [
            f"/ui/?q={next(queries)}&user_id={users[i % len(users)]}" for i in range(n)
        ],
    }
    timed(client, ["/ui/", f"/ui/?q={next(queries)}"])  # first touches: caches, index open
    print(f"\n{args.size:,} memories, {args.users} users; {n} requests per row (ms)\n")
    print("| request (server side) | median | p95 | <= 100 ms |\n|---|---|---|---|")
    for name, urls in cases.items():
        print(row(name, timed(client, urls)), flush=True)
    offset = []
    for _ in range(n):
        start = time.perf_counter()
        service.list(limit=50, offset=depth)
        offset.append((time.perf_counter() - start) * 1000)
    print(row(f"(list_memories by offset {depth:,}: the query alone)", offset, None))
    alone = []
    for query in list(queries)[:n]:
        start = time.perf_counter()
        service.search(query, count_access=False)
        alone.append((time.perf_counter() - start) * 1000)
    print(row("(search over everything: the service call alone)", alone, None))
    listed = transfer(client, "/ui/")
    signin = transfer(TestClient(client.app, base_url=BASE), "/ui/signin")
    print(
        f"\nfirst load: list page of {settings.ui.page_size} memories with its assets "
        f"{listed / 1024:.1f} kB; sign-in page with its assets {signin / 1024:.1f} kB "
        "(target <= 200 kB)"
    )
    service.close()


if __name__ == "__main__":
    main()

"""The screenshots of the memory page in the README: a small, realistic store, the page served
by uvicorn, and Debian's headless Chromium (Playwright for Python) taking each view.

    python docs/screenshots.py        # writes docs/page-*.png
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from mcp_memory.web.app import web_app

HERE = Path(__file__).resolve().parent
TOKEN = "screenshot-token-0123456789"
FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]  # fmt: skip
NOW = datetime.now(UTC)
MEMORIES = [
    ("Alice prefers oat milk in her coffee and never takes sugar.", "preference", "semantic", 40),
    (
        "Alice is allergic to peanuts; always check restaurant menus for satay.",
        "fact",
        "semantic",
        120,
    ),
    (
        "Alice's daughter Zoe (9) plays the violin and has lessons on Thursdays.",
        "relationship",
        "semantic",
        60,
    ),
    (
        "Alice flew to Lisbon for the design offsite in March and loved the tiles.",
        "experience",
        "episodic",
        75,
    ),
    (
        "To deploy the billing service, Alice runs the migration checks, then tags a release.",
        "skill",
        "procedural",
        20,
    ),
    ("Alice's manager is Priya; 1:1s are on Monday mornings.", "relationship", "semantic", 200),
    (
        "Alice is learning Japanese and practises with an app every evening.",
        "skill",
        "procedural",
        15,
    ),
    ("Alice wants meeting agendas sent the day before.", "preference", "semantic", 8),
    ("Alice wants meeting agendas sent a day before.", "preference", "semantic", 7),
    (
        "The Postgres upgrade is blocked on a review from the platform team.",
        "general",
        "semantic",
        3,
    ),
    ("Alice ran a half marathon in Edinburgh last October in 1:52.", "experience", "episodic", 400),
    ("Alice dislikes long video calls after 5 pm.", "preference", "semantic", 30),
    (
        "Alice's home office faces the garden; she works remotely on Fridays.",
        "fact",
        "semantic",
        90,
    ),
    (
        "Alice booked the cabin near the lake for the second week of August.",
        "experience",
        "episodic",
        2,
    ),
]


def seed(service) -> str:
    ids = []
    for i, (text, category, kind, days) in enumerate(MEMORIES):
        at = NOW - timedelta(days=days, minutes=i)
        ids.append(service.add(text, user_id="alice", agent_id="claude-desktop", category=category,
                               memory_type=kind, created_at=at).id)  # fmt: skip
    service.add("Bob's team uses trunk-based development.", user_id="bob", category="fact")
    violin = ids[2]
    service.update(violin, content="Alice's daughter Zoe (9) plays the violin; lessons moved "
                   "to Wednesdays.", importance=0.9)  # fmt: skip
    for _ in range(3):
        service.search("what does Zoe play", user_id="alice")
    service.update(ids[10], lifecycle_stage="archived")
    return violin


def serve(app) -> tuple[uvicorn.Server, int]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    return server, server.servers[0].sockets[0].getsockname()[1]


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="mcp-memory-shots-"))
    settings = load_settings(
        data_dir=data, security={"tokens": [{"token": TOKEN, "name": "desktop"}]}
    )
    service = build_service(settings)
    violin = seed(service)
    server, port = serve(web_app(service, settings, bind_host="127.0.0.1"))
    base = f"http://127.0.0.1:{port}"
    views = [
        ("page-list", "/ui/?user_id=alice", (1280, 900)),
        ("page-search", "/ui/?user_id=alice&q=what+instrument+does+her+child+play", (1280, 700)),
        ("page-memory", f"/ui/memory/{violin}", (1280, 1100)),
        ("page-consolidate", "/ui/consolidate?user_id=alice&preview=1", (1280, 900)),
        ("page-stats", "/ui/stats?user_id=alice", (1280, 900)),
        ("page-phone", "/ui/?user_id=alice", (390, 844)),
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for name, path, (width, height) in views:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(f"{base}/ui/signin")
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.goto(base + path)
            page.screenshot(path=str(HERE / f"{name}.png"))
            page.close()
            print(f"docs/{name}.png", file=sys.stderr)
        browser.close()
    server.should_exit = True
    service.close()


if __name__ == "__main__":
    main()

"""The memory page in a real headless Chromium, on a real `mcp-memory serve --transport http`
with two tokens (an administrator's, and alice's bound to user alice): memories added through
MCP are found, searched, corrected, deleted and their history read on the page; consolidation
previewed, run and undone; a token bound to alice never shows bob's memories; a form posted
from another origin changes nothing; /metrics counts what was done; every log line is JSON."""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.browser import McpClient, chromium, portal
from tests.integration.conftest import NetworkServer, start_network_server

ADMIN = "admin-token-5f1c9e0a7b3d"
ALICE = "alice-token-8e2d4b6a1c0f"
CONFIG = f"""
log_format = "json"

[[security.tokens]]
name = "admin"
token = "{ADMIN}"

[[security.tokens]]
name = "alice-app"
token = "{ALICE}"
user_id = ["alice"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[NetworkServer]:
    root = tmp_path_factory.mktemp("page")
    (root / "config.toml").write_text(CONFIG)
    running = start_network_server("http", root / "data", "--config", str(root / "config.toml"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def mcp(server) -> Iterator[dict[str, McpClient]]:
    with portal() as loop:
        clients = {name: McpClient(loop, f"{server.base}/mcp", token)
                   for name, token in (("admin", ADMIN), ("alice", ALICE))}  # fmt: skip
        yield clients
        for client in clients.values():
            client.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def sign_in(page: Page, server: NetworkServer, token: str) -> None:
    page.goto(f"{server.base}/ui/")
    expect(page).to_have_url(f"{server.base}/ui/signin")
    page.get_by_label("Bearer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.base}/ui/")


def add(mcp: McpClient, content: str, **scope) -> str:
    reply = mcp.call("add_memory", content=content, **scope)
    assert not reply.is_error, reply
    return reply.structured_content["id"]


def test_alice_finds_searches_corrects_and_deletes_her_memories(server, mcp, page):
    mine = {
        add(mcp["alice"], "Alice is allergic to peanuts", user_id="alice"): "peanuts",
        add(mcp["alice"], "Alice's daughter Zoe plays the violin", user_id="alice"): "violin",
        add(mcp["alice"], "Alice flies to Lisbon in May", user_id="alice"): "Lisbon",
    }
    bobs = add(mcp["admin"], "Bob's bank PIN hint is his cat's name", user_id="bob")

    sign_in(page, server, ALICE)
    listed = page.locator("ol.memories li")
    expect(listed).to_have_count(3)
    for word in mine.values():
        expect(page.locator("ol.memories")).to_contain_text(word)
    expect(page.locator("body")).not_to_contain_text("Bob")

    page.keyboard.press("/")  # the search box, from the keyboard
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("what instrument does her child play")
    page.keyboard.press("Enter")
    first = page.locator("ol.memories li").first
    expect(first).to_contain_text("violin")
    expect(first).to_contain_text("similarity")

    first.locator("a.text").click()
    expect(page.locator("h1")).to_have_text("Memory")
    page.get_by_label("Text").fill("Alice's daughter Zoe plays the cello now")
    page.get_by_label("Importance (0 to 1)").fill("0.95")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".note")).to_contain_text("Saved: version 2")
    history = page.locator("ol.history li")
    expect(history).to_have_count(2)
    expect(history.nth(1)).to_contain_text("UPDATE")
    expect(history.nth(1)).to_contain_text("plays the cello now")
    violin = next(i for i, w in mine.items() if w == "violin")
    got = mcp["alice"].call("get_memory", id=violin).structured_content["memory"]
    assert (got["content"], got["importance_score"]) == (
        "Alice's daughter Zoe plays the cello now",
        0.95,
    )

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".note")).to_contain_text(f"Deleted memory {violin}")
    expect(page.locator("ol.memories li")).to_have_count(2)
    assert mcp["alice"].call("get_memory", id=violin).is_error

    page.goto(f"{server.base}/ui/memory/{bobs}")
    expect(page.locator(".note.error")).to_contain_text(f"memory '{bobs}' not found")
    page.goto(f"{server.base}/ui/?user_id=bob")
    expect(page.locator(".note.error")).to_contain_text("may not use user_id 'bob'")
    expect(page.locator("body")).not_to_contain_text("PIN")


def test_consolidation_preview_run_and_undo(server, mcp, page):
    for text in ("Cleo takes the 8:15 train", "Cleo usually takes the 8:15 train", "Cleo swims"):
        add(mcp["admin"], text, user_id="cleo")
    sign_in(page, server, ADMIN)
    page.get_by_role("link", name="Consolidate").click()
    page.get_by_label("User").fill("cleo")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".actions-list")).to_contain_text("Merge duplicates")
    expect(page.locator(".actions-list")).to_contain_text("Cleo takes the 8:15 train")
    assert count(mcp, "cleo") == 3  # a preview changes nothing

    page.get_by_role("button", name="Run it").click()
    expect(page.locator(".note")).to_contain_text("Consolidated: 1 duplicate merged")
    assert count(mcp, "cleo") == 2
    page.get_by_role("button", name="Undo this run").first.click()
    expect(page.locator(".note")).to_contain_text("Undid run")
    expect(page.locator("ol.runs li").first).to_contain_text("undone")
    assert count(mcp, "cleo") == 3


def count(mcp: dict[str, McpClient], user: str) -> int:
    return mcp["admin"].call("list_memories", user_id=user).structured_content["total"]


class Attacker(http.server.BaseHTTPRequestHandler):
    """Another web app on this machine: a page whose form deletes a memory on the memory page."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}">'
            '<input name="csrf" value="guessed"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_change_posted_from_another_origin_is_refused(server, mcp, page):
    victim = add(mcp["admin"], "Dora keeps her spare key under the mat", user_id="dora")
    sign_in(page, server, ADMIN)
    Attacker.target = f"{server.base}/ui/memory/{victim}/delete"
    attacker = http.server.HTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with page.expect_response(Attacker.target) as answer:
            page.goto(f"http://127.0.0.1:{attacker.server_port}/")
        assert answer.value.status == 403
        expect(page.locator("body")).to_contain_text("only from this page's own origin")
    finally:
        attacker.shutdown()
        attacker.server_close()
    assert not mcp["admin"].call("get_memory", id=victim).is_error
    page.goto(f"{server.base}/ui/memory/{victim}")
    expect(page.locator("ol.history li")).to_have_count(1)  # ADD only


def scrape(server: NetworkServer) -> dict:
    request = urllib.request.Request(
        f"{server.base}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_known_calls_on_the_real_server(server, mcp):
    def of(samples, name, **labels):
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    before = scrape(server)
    for i in range(3):
        add(mcp["alice"], f"Alice metric probe {i}", user_id="alice")
    assert mcp["alice"].call("search_memory", query="probe", user_id="bob").is_error
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.base}/mcp", data=b"{}", timeout=30)
    assert refused.value.code == 401
    refused.value.close()
    after = scrape(server)

    def grew(name, **labels):
        return of(after, name, **labels) - of(before, name, **labels)

    assert grew("mcp_memory_tool_calls_total", tool="add_memory", outcome="ok") == 3
    assert grew("mcp_memory_tool_call_seconds_count", tool="add_memory") == 3
    assert grew("mcp_memory_tool_calls_total", tool="search_memory", outcome="access_denied") == 1
    assert grew("mcp_memory_auth_refusals_total", reason="scope") == 1
    assert grew("mcp_memory_auth_refusals_total", reason="missing_token") == 1
    total = mcp["admin"].call("stats").structured_content["total_memories"]
    assert of(after, "mcp_memory_ledger_memories") == total
    assert sum(of(after, "mcp_memory_memories", stage=s) for s in ("active", "aging",
               "archiving_soon", "archived")) == total  # fmt: skip


def test_every_log_line_is_json(server, mcp):
    add(mcp["admin"], "Eli logs in JSON", user_id="eli")
    lines = [line for line in server.stderr_lines if line.strip()]
    assert any("Uvicorn running on" in line for line in lines)
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert not re.search(ADMIN + "|" + ALICE, "".join(lines))  # no token in any log line

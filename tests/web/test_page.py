"""The memory page in-process: sign-in, grants, CSRF and Origin, and every view and change
through the real service. The same page in a real browser: tests/integration/test_page_browser.py.
"""

from __future__ import annotations

import json
import re

from starlette.routing import Route
from starlette.testclient import TestClient

from mcp_memory.models import EventKind, Scope
from mcp_memory.web.app import web_app
from tests.web.conftest import (
    ADMIN,
    ALICE,
    BASE,
    change,
    csrf,
    memory_ids,
    notes,
    post,
)


def counter(site, name: str, **labels) -> float:
    value = site.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_the_page_needs_a_known_token_and_keeps_it_out_of_urls(site):
    browser = site.client()
    assert browser.get("/ui/").headers["location"] == "/ui/signin"
    wrong = post(browser, "/ui/signin", {"token": "not-a-token-at-all-123"})
    assert wrong.status_code == 401 and "not a token this server knows" in wrong.text
    assert "set-cookie" not in wrong.headers
    assert counter(site, "mcp_memory_auth_refusals_total", reason="sign_in") == 1

    signed = post(browser, "/ui/signin", {"token": ADMIN})
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert ADMIN not in cookie and ADMIN not in signed.headers["location"]
    assert browser.get("/ui/").status_code == 200

    out = change(browser, "/ui/signout")
    assert out.status_code == 303 and 'mcp_memory_ui_8766=""' in out.headers["set-cookie"]
    assert browser.get("/ui/").headers["location"] == "/ui/signin"


def test_a_token_bound_to_alice_sees_and_changes_only_her_memories(site):
    service = site.service
    mine = [service.add(f"Alice note {i}: she likes tea", user_id="alice").id for i in range(2)]
    theirs = [service.add(f"Bob note {i}: he likes tea", user_id="bob").id for i in range(2)]
    alice = site.client(ALICE)

    assert sorted(memory_ids(alice.get("/ui/").text)) == sorted(mine)
    assert sorted(memory_ids(alice.get("/ui/?q=likes+tea").text)) == sorted(mine)
    refused = alice.get("/ui/?user_id=bob")
    assert refused.status_code == 403
    assert notes(refused.text) == ["this token may not use user_id 'bob'; it is limited to alice"]
    assert alice.get(f"/ui/memory/{theirs[0]}").status_code == 404
    edit = change(alice, f"/ui/memory/{theirs[0]}/edit", {"content": "hacked"})
    assert edit.status_code == 303
    assert "not found" in notes(alice.get("/ui/").text)[0]
    assert change(alice, f"/ui/memory/{theirs[1]}/delete").status_code == 303
    assert service.get(theirs[0]).memory.content == "Bob note 0: he likes tea"
    assert service.count(user_id="bob") == 2

    exported = [json.loads(line) for line in alice.get("/ui/export").text.splitlines()]
    assert sorted(r["id"] for r in exported) == sorted(mine)
    assert ">bob<" not in alice.get("/ui/stats").text
    assert sorted(memory_ids(site.client(ADMIN).get("/ui/").text)) == sorted(mine + theirs)


def post_routes(site) -> list[str]:
    starlette = site.app.app
    return [
        r.path for r in starlette.routes if isinstance(r, Route) and "POST" in (r.methods or ())
    ]


def test_every_change_needs_the_sessions_csrf_token_and_the_pages_origin(site):
    memory = site.service.add("Dana prefers window seats", user_id="dana").memory
    site.service.update(memory.id, lifecycle_stage="archived")
    admin = site.client(ADMIN)
    token = csrf(admin)
    paths = [p.replace("{memory_id}", memory.id) for p in post_routes(site)]
    assert {"/ui/signout", "/ui/consolidate/run", f"/ui/memory/{memory.id}/delete"} <= set(paths)
    for path in paths:
        if path == "/ui/signin":
            continue
        form = {"content": "changed", "run_id": "0" * 32}
        assert post(admin, path, form).status_code == 403, path
        assert post(admin, path, {**form, "csrf": "forged"}).status_code == 403, path
        elsewhere = post(admin, path, {**form, "csrf": token}, origin="http://127.0.0.1:9999")
        assert elsewhere.status_code == 403, path
    evil = post(site.client(), "/ui/signin", {"token": ADMIN}, origin="http://evil.example")
    assert evil.status_code == 403
    after = site.service.get(memory.id).memory
    assert (after.version, after.content) == (2, memory.content)
    assert site.service.consolidator.runs_within(Scope(), 20) == []
    assert admin.get("/ui/").status_code == 200  # still signed in: signing out was refused
    assert counter(site, "mcp_memory_auth_refusals_total", reason="csrf") == 2 * (len(paths) - 1)
    assert counter(site, "mcp_memory_auth_refusals_total", reason="origin") == len(paths)


def test_a_foreign_host_name_is_refused_and_pages_carry_the_security_headers(site):
    admin = site.client(ADMIN)
    assert admin.get("/ui/", headers={"host": "evil.example"}).status_code == 421
    page = admin.get("/ui/")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"  # "no-referrer" makes Origin null
    assert page.headers["cache-control"] == "no-store"
    asset = re.search(r'href="(/ui/static/page.css\?v=\w+)"', page.text).group(1)
    assert "max-age" in admin.get(asset).headers["cache-control"]


def test_an_edit_goes_through_the_service_history_redaction_and_limits(site):
    memory = site.service.add("Erin's laptop is a ThinkPad", user_id="erin").memory
    admin = site.client(ADMIN)
    path = f"/ui/memory/{memory.id}/edit"
    same = {"content": memory.content, "memory_type": "semantic", "category": "general"}
    unchanged = change(admin, path, {**same, "importance": f"{memory.importance_score:g}"})
    assert unchanged.status_code == 303
    assert notes(admin.get(f"/ui/memory/{memory.id}").text) == [
        "Nothing to change: the form matches the memory."
    ]
    bad = change(admin, path, {**same, "content": "Erin's laptop is new", "importance": "high"})
    assert bad.status_code == 400 and "importance must be a number from 0 to 1" in bad.text
    assert "Erin&#39;s laptop is new" in bad.text  # what was typed is kept
    assert site.service.get(memory.id).memory.version == 1

    saved = change(
        admin, path,
        {**same, "content": "Erin's wifi password: hunter2hunter2", "category": "fact",
         "importance": "0.9"},
    )  # fmt: skip
    assert saved.status_code == 303
    shown = admin.get(f"/ui/memory/{memory.id}").text
    assert "Secrets were cut out before storing: password" in notes(shown)[0]
    after = site.service.get(memory.id).memory
    assert "hunter2" not in after.content and after.category == "fact"
    assert after.importance_score == 0.9 and after.version == 2
    events = site.service.history(memory.id).events
    assert [e.event for e in events] == [EventKind.ADD, EventKind.UPDATE]
    assert events[1].details["changed"] == ["category", "content", "importance_score"]
    assert "UPDATE" in shown and "[REDACTED:password]" in shown


def test_delete_keeps_the_history_and_restore_brings_an_archived_memory_back(site):
    service = site.service
    gone = service.add("Frank's old phone number is 555-0100", user_id="frank").id
    kept = service.add("Frank drinks his coffee black", user_id="frank").id
    service.update(kept, lifecycle_stage="archived")
    admin = site.client(ADMIN)

    assert change(admin, f"/ui/memory/{gone}/delete", {"user_id": "frank"}).status_code == 303
    listed = admin.get("/ui/?user_id=frank&stage=archived").text
    assert memory_ids(admin.get("/ui/?user_id=frank").text) == []
    assert memory_ids(listed) == [kept]
    history = admin.get(f"/ui/memory/{gone}").text
    assert "Deleted memory" in history and "DELETE" in history
    assert site.service.count(user_id="frank") == 1

    assert "Restore" in admin.get(f"/ui/memory/{kept}").text
    assert change(admin, f"/ui/memory/{kept}/restore").status_code == 303
    assert service.get(kept).memory.lifecycle_stage == "active"
    assert memory_ids(admin.get("/ui/?user_id=frank").text) == [kept]
    assert "RESTORE" in admin.get(f"/ui/memory/{kept}").text


def test_paging_walks_every_memory_once_newest_first_through_equal_times(site, clock):
    service = site.service
    for i in range(7):
        service.add(f"Gus memory at the same instant, number {i}", user_id="gus")
    for i in range(6):
        clock.advance(minutes=1)
        service.add(f"Gus memory a minute later, number {i}", user_id="gus")
    expected = [m.id for m in service.list(user_id="gus", limit=100).memories]
    admin, seen, url = site.client(ADMIN), [], "/ui/?user_id=gus"
    while url:
        page = admin.get(url).text
        seen += memory_ids(page)
        assert "13 memories, newest first" in page  # the whole listing's, on every page
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == expected and len(seen) == 13


def test_search_ranks_as_search_memory_and_counts_no_access(site):
    service = site.service
    for text in (
        "Hana loves hiking in the Alps",
        "Hana's cat is called Miso",
        "Hana works at a bakery",
    ):
        service.add(text, user_id="hana")
    page = site.client(ADMIN).get("/ui/?q=which+pet+does+hana+have&user_id=hana").text
    scores = re.findall(r"score (\d\.\d{3})</span>", page)
    similarities = re.findall(r"similarity (\d\.\d{3})</span>", page)
    direct = service.search("which pet does hana have", user_id="hana", count_access=False)
    assert memory_ids(page) == [h.id for h in direct.results]
    assert scores == [f"{h.score:.3f}" for h in direct.results]
    assert similarities == [f"{h.similarity:.3f}" for h in direct.results]
    assert "Miso" in page.split('class="memory"')[1]
    assert all(m.access_count == 0 for m in service.list(user_id="hana").memories)


def test_consolidation_preview_run_and_undo_from_the_page(site):
    service = site.service
    for _ in range(2):
        service.add("Ivy takes her tea with lemon", user_id="ivy", importance=0.5)
        service.add("Ivy takes her tea with lemon.", user_id="ivy", agent_id="x", importance=0.5)
    service.add("Ivy always takes her tea with lemon", user_id="ivy", importance=0.6)
    admin = site.client(ADMIN)
    before = service.count(user_id="ivy")

    preview = admin.get("/ui/consolidate?user_id=ivy&preview=1").text
    assert "Merge duplicates" in preview and "Ivy takes her tea with lemon" in preview
    assert "Nothing has changed yet" in preview and service.count(user_id="ivy") == before

    ran = change(admin, "/ui/consolidate/run", {"user_id": "ivy"})
    assert ran.status_code == 303 and ran.headers["location"] == "/ui/consolidate?user_id=ivy"
    page = admin.get("/ui/consolidate?user_id=ivy").text
    note = notes(page)[0]
    assert note.startswith("Consolidated: 1 duplicate merged")
    assert service.count(user_id="ivy") == before - 1
    run_id = re.search(r"\(run (\w+);", note).group(1)
    assert f"<code>{run_id}</code>" in page and "Undo this run" in page

    undo = change(admin, "/ui/consolidate/undo", {"run_id": run_id, "user_id": "ivy"})
    assert undo.status_code == 303
    assert notes(admin.get("/ui/consolidate?user_id=ivy").text)[0].startswith(f"Undid run {run_id}")
    assert service.count(user_id="ivy") == before
    assert service.consolidator.runs_within(Scope(user_id="ivy"), 20)[0].undone_at is not None
    again = change(admin, "/ui/consolidate/undo", {"run_id": run_id, "user_id": "ivy"})
    assert "already undone" in notes(admin.get(again.headers["location"]).text)[0]


def test_stats_are_drawn_and_an_export_downloads_the_scope(site):
    service = site.service
    service.add("Jon plays the cello", user_id="jon", category="skill")
    service.add("Jon lives in Oslo", user_id="jon", category="fact")
    service.add("Kim lives in Seoul", user_id="kim", category="fact")
    admin = site.client(ADMIN)
    stats = admin.get("/ui/stats?user_id=jon").text
    assert stats.count("<svg") == 6
    assert 'aria-label="By category: fact 1, skill 1"' in stats
    assert re.search(r'<rect class="bar" x="130" y="4" width="300(\.0)?"', stats)

    download = admin.get("/ui/export?user_id=jon")
    assert 'filename="memories-jon.jsonl"' in download.headers["content-disposition"]
    records = [json.loads(line) for line in download.text.splitlines()]
    assert records == list(service.export_records(user_id="jon"))


def test_without_tokens_the_page_is_open_as_the_tools_are(page_service, page_settings):
    open_settings = page_settings.model_copy(
        update={"security": page_settings.security.model_copy(update={"tokens": []})}
    )
    app = web_app(page_service, open_settings, bind_host="127.0.0.1")
    browser = TestClient(app, base_url=BASE, follow_redirects=False)
    first = browser.get("/ui/")
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    page_service.add("Lee likes jazz", user_id="lee")
    assert len(memory_ids(browser.get("/ui/").text)) == 1
    assert (
        change(browser, f"/ui/memory/{page_service.list().memories[0].id}/delete").status_code
        == 303
    )
    assert page_service.count() == 0

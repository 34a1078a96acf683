"""Access counts on PostgreSQL are written after the reply, on a thread of their own: a search
does not wait for them (they took 1.4 ms of each), and every read of this server that shows
them waits for those still being written, so this server never shows a stale count."""

from __future__ import annotations

import threading

import pytest

from mcp_memory.factory import build_service
from mcp_memory.postgres import memories
from tests.postgres.test_faults import postgres_settings


@pytest.fixture
def service(tmp_path, postgres_dsn, embedder, clock):
    built = build_service(postgres_settings(tmp_path, postgres_dsn), embedder=embedder, clock=clock)
    yield built
    built.close()


def test_a_search_answers_before_its_access_counts_are_written_and_reads_wait_for_them(
    service, monkeypatch
):
    kite = service.add("Ann flew her red kite on the beach", user_id="ann").memory.id
    service.flush()
    release, written, waiting = threading.Event(), threading.Event(), threading.Event()
    count, settle = memories.MemoryWriter._touch, memories.Counting.settle

    def held_back(self, ids, at):
        release.wait(timeout=30)
        count(self, ids, at)
        written.set()

    def settling(self):
        waiting.set()
        settle(self)

    monkeypatch.setattr(memories.MemoryWriter, "_touch", held_back)
    monkeypatch.setattr(memories.Counting, "settle", settling)
    hits = service.search("where did Ann fly her kite?", user_id="ann").results
    assert not written.is_set()  # answered while its count is held back
    assert hits[0].id == kite and hits[0].memory.access_count == 1
    waiting.clear()
    seen: list = []
    reader = threading.Thread(target=lambda: seen.append(service.get(kite, count_access=False)))
    reader.start()
    assert waiting.wait(timeout=30)  # the read waits for the count still being written ...
    assert not seen
    release.set()
    reader.join(timeout=30)
    assert written.is_set() and seen[0].memory.access_count == 1  # ... and shows it

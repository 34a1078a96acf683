"""A damaged vector index mends itself: it is derived from the ledger, so start-up, a search,
`doctor --repair` and `reindex` rebuild it from there instead of failing."""

from __future__ import annotations

import threading

import pytest

from mcp_memory.cli import doctor
from mcp_memory.factory import CHROMA_DIR, build_service, reindex_store
from tests.damage import scramble_header, scramble_pages
from tests.indexing.conftest import BY_MEANING, FACTS, top

DAMAGE = {
    "chroma pages": ("chroma.sqlite3", scramble_pages),
    "chroma header": ("chroma.sqlite3", scramble_header),
    "scoped copy": ("scoped_memories.sqlite3", scramble_header),
}


def _damage(settings, how: str = "chroma pages") -> None:
    name, damage = DAMAGE[how]
    damage(settings.data_dir / CHROMA_DIR / name)


@pytest.mark.parametrize("damaged", DAMAGE)
def test_start_up_rebuilds_a_damaged_index_from_the_ledger(
    settings, embedder, clock, stored, damaged
):
    _damage(settings, damaged)
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        service.reconcile()  # what the server's warm-up runs
        stats = service.stats()
        assert stats.vectors_indexed == len(FACTS) and stats.index_in_sync
        assert service.index.rebuilt == 1
        for key, query in BY_MEANING.items():
            assert top(service, query) == stored[key]
    finally:
        service.close()


def test_a_search_meeting_a_damaged_index_answers_and_mends_it(settings, embedder, clock, stored):
    """A search over everything reads Chroma's HNSW graph (a scoped one reads the scoped
    copy): it finds the damage, answers, and the index is whole again for the next one."""
    _damage(settings)
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        first = service.search("boiler serviced")  # the keywords answer meanwhile
        assert first.results[0].id == stored["boiler"]
        assert service.index.rebuilt == 1
        meaning = service.search(BY_MEANING["cat"])  # the vectors are back
        assert meaning.results[0].id == stored["cat"]
        assert service.stats().index_in_sync
    finally:
        service.close()


def test_doctor_reports_a_damaged_index_and_repair_rebuilds_it(settings, stored):
    _damage(settings)
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert "vector index" in checks, checks
    assert checks["vector index"].status == "fail"
    assert "malformed" in checks["vector index"].detail
    assert "mcp-memory doctor --repair" in checks["vector index"].fix
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert all(c.status == "ok" for c in repaired.values()), repaired
    assert "rebuilt from the ledger" in repaired["vector index"].detail
    assert repaired["ledger vs index"].detail.startswith("3 memories, 3 vectors, 0 pending")
    assert {c.status for c in doctor.run(settings, None)} == {"ok"}


def test_reindex_rebuilds_a_damaged_index(settings, embedder, clock, stored):
    _damage(settings)
    result = reindex_store(settings, embedder=embedder)
    assert result.memories == len(FACTS)
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        assert top(service, BY_MEANING["boiler"]) == stored["boiler"]
        assert service.stats().index_in_sync
    finally:
        service.close()


def test_searches_do_not_wait_for_a_rebuild_in_progress(service):
    """A rebuild re-embeds every memory (minutes for a large store) holding the sync lock;
    a search meanwhile answers from what is indexed and the keywords, without waiting."""
    added = service.add("The wifi password is taped under the router", user_id="tom")
    service.flush()
    service.ledger.requeue_all()  # as a rebuild starts
    rebuilding, finish, answered = threading.Event(), threading.Event(), threading.Event()

    def rebuild() -> None:
        with service.index_sync.lock:
            rebuilding.set()
            finish.wait(60)

    def search() -> None:
        if service.search("wifi password", user_id="tom").results[0].id == added.id:
            answered.set()

    threads = [threading.Thread(target=rebuild), threading.Thread(target=search)]
    threads[0].start()
    assert rebuilding.wait(10)
    threads[1].start()
    try:
        assert answered.wait(30), "the search waited for the rebuild"
    finally:
        finish.set()
        for thread in threads:
            thread.join(60)
    assert service.ledger.count_pending() == 1  # left to the rebuild

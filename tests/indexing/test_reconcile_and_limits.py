"""Start-up reconciliation of the derived indexes, and every input limit coming from settings."""

from __future__ import annotations

import pytest
from mcp.client import Client

from mcp_memory.config import load_settings
from mcp_memory.factory import build_service
from mcp_memory.indexing import sync as sync_module
from mcp_memory.mcp.app import create_server
from mcp_memory.models import Scope
from mcp_memory.policy.filters import memory_filter


def test_reconcile_re_embeds_missing_vectors_and_drops_orphans(service):
    kept = service.add("The spare tyre is in the garage loft", user_id="sam")
    lost = service.add("Sam's passport expires in March 2027", user_id="sam")
    service.flush()  # both vectors written (add leaves that to a background thread)
    service.index.delete([lost.id])  # as if the process died before the vector was written
    assert not service.stats().index_in_sync
    service.index.upsert([_record_like(service, kept.id, "ghost-vector")])  # and an orphan
    done = service.reconcile()  # equal counts now: a small store is still compared id by id
    assert done["repaired"] == {"missing": 1, "orphans": 1}
    assert service.index_report().agrees and service.stats().index_in_sync
    hits = service.search("when does the passport expire", user_id="sam").results
    assert hits[0].id == lost.id


def test_reconcile_applies_the_queue_left_by_a_crash(service):
    added = service.add("The boiler pressure should read 1.5 bar", user_id="sam")
    service.flush()
    with service.ledger.transaction() as conn:  # a delete that died before reaching Chroma
        conn.execute("DELETE FROM memories WHERE id = ?", (added.id,))
        conn.execute(
            "INSERT INTO index_queue (memory_id, op, queued_at) VALUES (?, 'delete', '2026')",
            (added.id,),
        )
    assert service.stats().pending_index == 1 and not service.stats().index_in_sync
    assert service.reconcile()["applied"] == 1
    assert service.index.count() == 0 and service.stats().index_in_sync


@pytest.mark.parametrize("full_check_max", [sync_module.FULL_CHECK_MAX, 0])
def test_a_damaged_keyword_index_is_rebuilt_at_start(service, monkeypatch, full_check_max):
    """Small stores get FTS5's full integrity check, large ones (0 here) the document count."""
    monkeypatch.setattr(sync_module, "FULL_CHECK_MAX", full_check_max)
    added = service.add("The recycling goes out on Thursday evenings", user_id="sam")
    with service.ledger.transaction() as conn:
        conn.execute("INSERT INTO memories_fts(rowid, content) VALUES (4242, 'phantom words')")
    assert not service.ledger.keyword_index_ok()
    assert not service.ledger.keyword_index_ok(full=False)
    assert service.reconcile()["keyword_index_rebuilt"] is True
    assert service.ledger.keyword_index_ok()
    flt = memory_filter(service.policy.limits, Scope(), now=service.clock(), include_archived=True)
    assert [i for i, _ in service.ledger.keyword_search(["recycling"], flt, 5)] == [added.id]
    assert service.ledger.keyword_search(["phantom"], flt, 5) == []


def test_a_clean_start_does_no_repair_work(service):
    service.add("Nothing is wrong here", user_id="sam")
    service.flush()
    assert service.reconcile() == {"applied": 0, "repaired": None, "keyword_index_rebuilt": False}


def _record_like(service, memory_id: str, new_id: str):
    from mcp_memory.store.vectors import VectorRecord

    vector = service.index.vectors([memory_id])[memory_id]
    return VectorRecord(id=new_id, vector=vector, user_id="sam")


TIGHT = {
    "max_content_chars": 50,
    "max_query_chars": 20,
    "max_metadata_bytes": 60,
    "max_metadata_depth": 2,
    "max_metadata_keys": 3,
    "max_scope_chars": 8,
    "max_limit": 5,
}

REFUSED = [
    ("add_memory", {"content": "x" * 51}, "over the limit of 50"),
    ("add_memory", {"content": "ok", "metadata": {"a": 1, "b": 2, "c": 3, "d": 4}}, "limit of 3"),
    ("add_memory", {"content": "ok", "metadata": {"a": "y" * 70}}, "limit of 60"),
    ("add_memory", {"content": "ok", "metadata": {"a": [[1]]}}, "deeper than 2"),
    ("add_memory", {"content": "ok", "user_id": "u" * 9}, "longer than 8"),
    ("add_memory", {"content": "ok", "created_at": "2026-13-45"}, "ISO-8601"),
    ("search_memory", {"query": "q" * 21}, "over the limit of 20"),
    ("search_memory", {"query": "q", "limit": 6}, "between 1 and 5"),
    ("search_memory", {"query": "q", "limit": 3, "until": "soon"}, "ISO-8601"),
    ("list_memories", {"limit": 0}, "between 1 and 5"),
    ("get_memory", {"id": "x" * 65}, "not a memory id"),
    ("update_memory", {"id": "bad id!", "content": "x"}, "not a memory id"),
    ("delete_memory", {"id": ""}, "not a memory id"),
    ("memory_history", {"id": "a/b"}, "not a memory id"),
    ("consolidate", {"session_id": "s" * 9}, "longer than 8"),
    ("stats", {"agent_id": "a" * 9}, "longer than 8"),
]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_every_limit_comes_from_settings_with_a_clear_error(tmp_path, embedder):
    service = build_service(load_settings(data_dir=tmp_path / "d", limits=TIGHT), embedder=embedder)
    try:
        async with Client(create_server(service)) as client:
            for tool, args, fragment in REFUSED:
                result = await client.call_tool(tool, args)
                assert result.is_error, (tool, args)
                assert fragment in result.content[0].text, (tool, result.content[0].text)
            ok = await client.call_tool("add_memory", {"content": "within every limit"})
            assert not ok.is_error
        assert service.stats().total_memories == 1
    finally:
        service.close()


def test_a_vector_embedded_from_text_another_writer_replaced_is_not_stored(service, embedder):
    added = service.add("The meeting room is on the third floor", user_id="sam")
    old_vector = embedder.embed([added.memory.content])[0]
    newer = service.update(added.id, content="The meeting room moved to the ground floor").memory
    # A slower writer now applies its vector for the old text, after the newer write landed.
    service.index_sync.apply(
        [(added.id, "upsert")], {added.id: old_vector}, {added.id: added.memory.content}
    )
    stored = service.index.vectors([added.id])[added.id]
    assert float(stored @ embedder.embed([newer.content])[0]) > 0.999

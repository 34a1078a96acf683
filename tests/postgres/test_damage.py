"""Damage and old duplicate rules on a PostgreSQL store, as the SQLite ledger meets them (tests/ledger/test_damaged_ledger.py,
test_unreadable_rows.py, tests/indexing/test_damaged_index.py): a damaged row is skipped by
reads and reported by doctor; damage a statement meets in the ledger is one clear error and
no more writes; damage in a pgvector table is mended from the ledger by itself.

The damage is real PostgreSQL's: a row edited by hand (the text columns hold JSON and names),
and a trigger raising the server's own ``data_corrupted`` / ``index_corrupted`` errors (what a
damaged page or index raises) where a test cannot damage the server's files."""

from __future__ import annotations

import logging
import unicodedata
from hashlib import sha256

import pytest

from mcp_memory.cli.doctor import check_store
from mcp_memory.errors import StoreDamaged, UnreadableMemory
from mcp_memory.factory import build_service
from mcp_memory.policy import validation
from tests.conftest import PG_PASSWORD
from tests.postgres.test_faults import postgres_settings

RAISING = """
CREATE FUNCTION {schema}.damaged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'could not read block 7 of relation 1663/5/16384' USING ERRCODE = '{code}';
END $$;
CREATE TRIGGER damaged BEFORE INSERT ON {schema}.{table}
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.damaged();
"""


@pytest.fixture
def settings(tmp_path, postgres_dsn):
    return postgres_settings(tmp_path, postgres_dsn)


@pytest.fixture
def service(settings, embedder, clock):
    svc = build_service(settings, embedder=embedder, clock=clock)
    yield svc
    svc.close()


def _damage(service, table: str, code: str) -> None:
    schema = service.ledger.db.schema
    service.ledger.db.statement(RAISING.format(schema=schema, table=table, code=code).encode())


def test_a_damaged_row_is_skipped_by_reads_and_reported_by_doctor(service, settings, caplog):
    good = service.add("The cat sleeps on the red sofa", user_id="ann")
    bad = {
        column: service.add(f"The cat chased a mouse number {n}", user_id="ann").id
        for n, column in enumerate(("metadata", "lifecycle_stage"))
    }
    service.flush()
    for column, value in (("metadata", '{"broken'), ("lifecycle_stage", "vanished")):
        service.ledger.db.statement(
            f"UPDATE memories SET {column} = %s WHERE id = %s", (value, bad[column])
        )
    with caplog.at_level(logging.WARNING):
        found = service.search("cat", user_id="ann", limit=10).results
        listed = service.list(user_id="ann").memories
        exported = list(service.export_records(user_id="ann"))
        service.consolidate(user_id="ann")
    assert [r.id for r in found] == [good.id]
    assert [m.id for m in listed] == [good.id]
    assert [r["id"] for r in exported] == [good.id]
    assert all(memory_id in caplog.text for memory_id in bad.values())
    with pytest.raises(UnreadableMemory, match="lifecycle_stage 'vanished' is not valid"):
        service.get(bad["lifecycle_stage"])

    rows = {c.name: c for c in check_store(settings, service.embedder, repair=False)}
    rows = rows["memory rows"]
    assert rows.status == "fail" and "2 cannot be read" in rows.detail, rows
    assert rows.fix.startswith("restore them") and "psql -h 127.0.0.1" in rows.fix
    assert all(memory_id in rows.fix for memory_id in bad.values())
    assert PG_PASSWORD not in rows.detail + rows.fix


def test_damage_met_in_the_ledger_is_one_error_and_no_more_writes(service, caplog):
    kept = service.add("The spare key is under the mat", user_id="ann")
    service.flush()
    _damage(service, "memories", "XX001")
    with pytest.raises(StoreDamaged) as caught:
        service.add("The bike is in the shed", user_id="ann")
    message = str(caught.value)
    schema = service.ledger.db.schema
    assert "is damaged (could not read block 7" in message and f"schema {schema}" in message
    assert f"REINDEX SCHEMA {schema}" in message and PG_PASSWORD not in message
    other = service.ledger.db.another()  # another server: it met no damage, it writes
    try:
        other.statement(f"DROP TRIGGER damaged ON {schema}.memories")
    finally:
        other.close()
    with pytest.raises(StoreDamaged):  # refused before reaching the database
        service.update(kept.id, content="The spare key is in the drawer")
    with pytest.raises(StoreDamaged):
        service.ledger.verify()
    assert service.ledger.check_integrity() == ["could not read block 7 of relation 1663/5/16384"]
    assert service.get(kept.id).memory.content == "The spare key is under the mat"
    assert [h.id for h in service.search("key", user_id="ann").results] == [kept.id]


def test_damage_in_a_pgvector_table_is_mended_from_the_ledger(service, caplog):
    first = service.add("The boat is moored at pier seven", user_id="ann")
    service.flush()
    [(relation,)] = service.ledger.db.read("SELECT relation FROM vector_indexes")
    _damage(service, relation, "XX002")
    with caplog.at_level(logging.WARNING):
        second = service.add("The bike is in the shed", user_id="ann")
        service.flush()
    assert service.index.rebuilt == 1 and "rebuilding it now" in caplog.text
    assert service.ledger.check_integrity() == []  # the ledger is sound: writes go on
    assert service.index.count() == 2 and service.ledger.count_pending() == 0
    hits = service.search("where is the bicycle?", user_id="ann").results
    assert hits[0].id == second.id and {h.id for h in hits} == {first.id, second.id}


def test_doctor_looks_at_every_table_and_index_with_amcheck(service, settings):
    service.add("The spare key is under the mat", user_id="ann")
    service.flush()
    with service.ledger.traced() as read:
        assert service.ledger.check_integrity(full=True) == []
    assert any("SELECT * FROM" in statement for statement in read)
    service.ledger.db.statement("CREATE EXTENSION IF NOT EXISTS amcheck")
    with service.ledger.traced() as checked:
        assert service.ledger.check_integrity(full=True) == []
    assert any("bt_index_check" in statement for statement in checked)
    assert any("verify_heapam" in statement for statement in checked)


def test_hashes_under_older_rules_are_recomputed_without_meeting_on_the_unique_index(
    settings, embedder, clock
):
    """tests/ledger/test_rehash.py on PostgreSQL, where two memories an add stored whose texts
    the new rules make one would meet on the unique index over (scope, hash, twin)."""
    service = build_service(settings, embedder=embedder, clock=clock)
    first = service.add("I am allergic to peanuts.", user_id="ann")
    clock.advance(hours=1)
    second = service.add("Placeholder", user_id="ann")
    for memory_id, text in (
        (first.id, first.memory.content),
        (second.id, "I am allergic to peanuts!!"),
    ):
        service.ledger.db.statement(  # as an older version left it
            "UPDATE memories SET content = %s, content_hash = %s WHERE id = %s",
            (text, _old_hash(text), memory_id),
        )
    service.ledger.db.statement("DELETE FROM state WHERE key = 'content_hash_scheme'")
    service.close()

    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        twins = service.ledger.db.read("SELECT id, twin FROM memories ORDER BY seq")
        assert twins == [(first.id, ""), (second.id, second.id)]
        again = service.add("i am allergic to peanuts", user_id="ann")
        assert again.duplicate_of == first.id
        assert service.ledger.rehash(validation.content_hash, validation.HASH_SCHEME) == 0
        service.consolidate(user_id="ann")
        [kept] = service.list(user_id="ann").memories
        assert (kept.id, kept.content) == (first.id, "I am allergic to peanuts.")
    finally:
        service.close()


def _old_hash(text: str) -> str:
    """The rules before trailing stops were ignored: NFKC, case-folded, spaces collapsed."""
    return sha256(
        " ".join(unicodedata.normalize("NFKC", text).casefold().split()).encode()
    ).hexdigest()

"""The stored timestamp format: a total round trip over the whole calendar, text order = time
order, the unpadded years earlier versions wrote still read; then what it means end to end (an
old date stored, searched, exported; a store poisoned by an earlier version healed)."""

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp.client import Client

from mcp_memory.cli.doctor import check_store
from mcp_memory.clock import from_iso, to_iso, to_utc
from mcp_memory.config import load_settings
from mcp_memory.errors import InvalidInput
from mcp_memory.factory import LEDGER_FILE, build_service
from mcp_memory.mcp.app import create_server

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
EAST, WEST = timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59))

offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), timezones=offsets
)


def _has_utc_form(moment: datetime) -> bool:
    """Whether the instant lies within years 1..9999 in UTC (worked out without datetime
    arithmetic, which would overflow at the ends)."""
    local, offset = moment.replace(tzinfo=None), moment.utcoffset()
    return (
        local - FIRST.replace(tzinfo=None) >= offset
        and LAST.replace(tzinfo=None) - local >= -offset
    )


def test_normal_years_keep_the_stored_format():
    moment = datetime(2024, 5, 8, 13, 56, 7, 1234, tzinfo=timezone(timedelta(hours=2)))
    assert to_iso(moment) == "2024-05-08T11:56:07.001234+00:00"
    assert to_iso(datetime(2024, 5, 8)) == "2024-05-08T00:00:00.000000+00:00"  # naive is UTC


def test_every_year_round_trips_with_a_four_digit_year():
    for year in range(1, 10000):
        for moment in (
            datetime(year, 1, 1, tzinfo=UTC),
            datetime(year, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(year, 6, 15, 12, tzinfo=EAST),
            datetime(year, 6, 15, 12, tzinfo=WEST),
        ):
            text = to_iso(moment)
            assert text[:5] == f"{year:04d}-" and len(text) == 32
            assert from_iso(text) == moment


@given(moments)
def test_round_trip_over_every_year_and_offset(moment):
    if _has_utc_form(moment):
        back = from_iso(to_iso(moment))
        assert back == moment and back.utcoffset() == timedelta(0)
    else:
        with pytest.raises(ValueError, match="outside years 1 to 9999 in UTC"):
            to_iso(moment)


@given(moments, moments)
def test_text_order_is_time_order(a, b):
    if _has_utc_form(a) and _has_utc_form(b):
        assert (to_iso(a) < to_iso(b)) == (a < b)
        assert (to_iso(a) == to_iso(b)) == (a == b)


def test_the_ends_of_the_calendar():
    assert from_iso(to_iso(FIRST)) == FIRST and from_iso(to_iso(LAST)) == LAST
    assert to_iso(FIRST) == "0001-01-01T00:00:00.000000+00:00"
    for text in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        with pytest.raises(ValueError, match="outside years 1 to 9999 in UTC"):
            to_utc(datetime.fromisoformat(text))


def test_unpadded_years_stored_by_earlier_versions_are_read():
    assert from_iso("999-06-01T00:00:00.000000+00:00") == datetime(999, 6, 1, tzinfo=UTC)
    for year in range(1, 1000):
        legacy = datetime(year, 3, 4, 5, 6, 7, 8, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        assert from_iso(f"{year}{legacy[legacy.index('-') :]}") == datetime(
            year, 3, 4, 5, 6, 7, 8, tzinfo=UTC
        )


# -- end to end -------------------------------------------------------------------------------

OLD = "0999-06-01T00:00:00Z"


def test_an_old_created_at_is_refused_clearly_and_search_keeps_working(service):
    service.add("A memory from this century", user_id="ann")
    with pytest.raises(InvalidInput, match=r"created_at '0999-06-01T00:00:00Z' is outside .* 1900"):
        service.add("The old event", user_id="ann", created_at=OLD)
    for field, value in (
        ("since", "9999-12-31T23:59:59-05:00"),
        ("until", "0001-01-01T00:00:00+05:00"),
    ):
        with pytest.raises(InvalidInput, match=f"{field} .* is outside the accepted dates"):
            service.search("event", user_id="ann", **{field: value})
    assert [r.content for r in service.search("memory", user_id="bob").results] == []
    assert len(service.search("memory", user_id="ann").results) == 1


def test_old_dates_allowed_by_the_setting_are_stored_searched_and_exported(
    tmp_path, embedder, clock
):
    settings = load_settings(data_dir=tmp_path / "data", limits={"earliest_year": 1})
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        report = service.import_records(
            [
                {"content": "The old event happened", "user_id": "ann", "created_at": OLD},
                {"content": "The new event happened", "user_id": "ann", "created_at": "2024-05-08"},
            ]
        )
        assert report.imported == 2
        assert len(service.search("event", user_id="ann").results) == 2
        assert len(service.search("event", user_id="zed").results) == 0
        new = service.search("event", user_id="ann", since="2000-01-01")  # text order
        assert [r.content for r in new.results] == ["The new event happened"]
        exported = list(service.export_records())
        assert sorted(r["created_at"] for r in exported) == [
            "0999-06-01T00:00:00Z",
            "2024-05-08T00:00:00Z",
        ]
        service.consolidate()
        service.flush()
        assert service.index_report().agrees
    finally:
        service.close()


def test_imported_dates_meet_the_same_rule(service):
    record = {"content": "An event", "user_id": "ann"}
    for fields, name in (
        ({"created_at": "0001-01-01T00:00:00+05:00"}, "created_at"),
        ({"updated_at": "9999-12-31T23:59:59-05:00"}, "updated_at"),
        ({"last_accessed": "0999-06-01T00:00:00Z"}, "last_accessed"),
        ({"history": [{"event": "ADD", "at": "9999-12-31T23:59:59-05:00"}]}, "history event"),
    ):
        with pytest.raises(InvalidInput, match=f"record 1: {name}.* is outside the accepted dates"):
            service.check_records([{**record, **fields}])


def test_add_and_search_follow_the_configured_earliest_year(tmp_path, embedder, clock):
    settings = load_settings(data_dir=tmp_path / "data", limits={"earliest_year": 1})
    service = build_service(settings, embedder=embedder, clock=clock)
    try:
        service.add("The old event", user_id="ann", created_at=OLD)
        old = service.search("event", user_id="ann", since="0998-01-01", until="1000-01-01")
        assert [r.content for r in old.results] == ["The old event"]
    finally:
        service.close()


def test_a_store_poisoned_by_an_unpadded_year_heals(service, settings):
    """What an earlier version wrote for ``0999-06-01``: every search, export and consolidation
    failed on it; they read it now."""
    added = service.add("The old event happened", user_id="ann", created_at="2024-05-08")
    service.flush()
    with sqlite3.connect(settings.data_dir / LEDGER_FILE) as conn:
        conn.execute(
            "UPDATE memories SET created_at = ? WHERE id = ?",
            ("999-06-01T00:00:00.000000+00:00", added.id),
        )
    conn.close()
    found = service.search("event", user_id="ann").results
    assert [r.memory.created_at for r in found] == [datetime(999, 6, 1, tzinfo=UTC)]
    assert [r["created_at"] for r in service.export_records()] == ["0999-06-01T00:00:00Z"]
    service.update(added.id, metadata={"checked": True})  # an index write, which used to stick
    service.consolidate()
    service.flush()
    assert service.index_report().agrees
    checks = check_store(settings, service.embedder, repair=True)
    assert [c.status for c in checks] == ["ok"] * len(checks), checks


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_an_old_date_is_a_clear_tool_error_and_search_keeps_working(service):
    async with Client(create_server(service)) as client:
        await client.call_tool("add_memory", {"content": "A recent memory", "user_id": "ann"})
        for tool, args in (
            ("add_memory", {"content": "The old event", "user_id": "ann", "created_at": OLD}),
            ("search_memory", {"query": "event", "until": "9999-12-31T23:59:59-05:00"}),
            ("search_memory", {"query": "event", "since": "0001-01-01T00:00:00+05:00"}),
        ):
            result = await client.call_tool(tool, args)
            assert result.is_error, (tool, args)
            text = result.content[0].text
            assert "is outside the accepted dates" in text and "Traceback" not in text, text
        found = await client.call_tool("search_memory", {"query": "memory", "user_id": "ann"})
        assert not found.is_error and len(found.structured_content["results"]) == 1
        edge = "What happened on 9999-12-31, in December 9999 or in May 0000?"
        found = await client.call_tool("search_memory", {"query": edge, "user_id": "ann"})
        assert not found.is_error, found.content

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mcp_memory.config import LimitSettings
from mcp_memory.errors import InvalidInput
from mcp_memory.models import MemoryType
from mcp_memory.policy import validation

LIMITS = LimitSettings(max_content_chars=50, max_metadata_depth=2, max_metadata_keys=3)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_content_is_stripped_and_bounded():
    assert validation.content("  hi  ", LIMITS) == "hi"
    with pytest.raises(InvalidInput, match="content is empty"):
        validation.content(" \n\t ", LIMITS)
    with pytest.raises(InvalidInput, match="over the limit of 50"):
        validation.content("x" * 51, LIMITS)


def test_a_search_query_has_its_own_wording(service):
    """Not add's "give the text to remember" / "split it into several memories"."""
    with pytest.raises(InvalidInput, match="query is empty: give the words to search for"):
        service.search("   ")
    too_long = "x" * (service.policy.limits.max_query_chars + 1)
    with pytest.raises(InvalidInput, match=r"query is .* over the limit") as error:
        service.search(too_long)
    assert "memor" not in str(error.value)


def test_enum_error_lists_allowed_values():
    assert validation.choice("episodic", MemoryType, "memory_type") is MemoryType.episodic
    with pytest.raises(InvalidInput, match="episodic, semantic, procedural"):
        validation.choice("dream", MemoryType, "memory_type")


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.5", True, None])
def test_unit_interval_rejects(value):
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        validation.unit_interval(value, "importance")


@pytest.mark.parametrize("value", [0, 101, -3, 2.5, True])
def test_limit_rejects(value):
    with pytest.raises(InvalidInput, match="between 1 and 100"):
        validation.limit(value, LimitSettings())


def test_timestamps():
    assert validation.timestamp("2024-05-08", "since", NOW) == datetime(2024, 5, 8, tzinfo=UTC)
    assert validation.timestamp("2024-05-08T13:56:00Z", "since", NOW).hour == 13
    with pytest.raises(InvalidInput, match="not an ISO-8601 date"):
        validation.timestamp("last tuesday", "since", NOW)
    with pytest.raises(InvalidInput, match="in the future"):
        validation.timestamp("2030-01-01", "created_at", NOW, allow_future=False)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("0999-06-01T00:00:00Z", "created_at"),
        ("1899-12-31T23:59:59.999999Z", "since"),
        ("1900-01-01T00:30:00+01:00", "until"),  # 1899 in UTC
        ("9999-12-31T23:59:59-05:00", "until"),  # past the calendar in UTC
        ("0001-01-01T00:00:00+05:00", "since"),  # before it
        (datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2))), "since"),
    ],
)
def test_dates_outside_the_accepted_range_are_one_clear_error(value, field):
    with pytest.raises(InvalidInput) as refused:
        validation.timestamp(value, field, NOW)
    assert str(refused.value) == (
        f"{field} {str(value)!r} is outside the accepted dates: from 1900-01-01T00:00:00Z to "
        "9999-12-31T23:59:59Z once converted to UTC (the earliest year is the setting "
        "limits.earliest_year)"
    )


def test_the_accepted_range_is_a_setting():
    assert validation.timestamp("1900-01-01T00:00:00Z", "since", NOW).year == 1900
    assert validation.timestamp("9999-12-31T23:59:59Z", "until", NOW).year == 9999
    old = LimitSettings(earliest_year=1)
    moment = validation.timestamp("0999-06-01T00:00:00Z", "created_at", NOW, False, limits=old)
    assert moment == datetime(999, 6, 1, tzinfo=UTC)
    assert validation.timestamp("0001-01-01", "since", NOW, limits=old).year == 1
    with pytest.raises(InvalidInput, match="from 0001-01-01T00:00:00Z"):
        validation.timestamp("0001-01-01T00:00:00+05:00", "since", NOW, limits=old)
    with pytest.raises(InvalidInput, match="from 2020-01-01T00:00:00Z"):
        validation.timestamp("2019-12-31", "since", NOW, limits=LimitSettings(earliest_year=2020))
    for bad in (0, 10_000):
        with pytest.raises(ValueError, match="earliest_year"):
            LimitSettings(earliest_year=bad)


def test_metadata_shapes():
    assert validation.metadata({"a": 1, "b": ["x", True]}, LIMITS) == {"a": 1, "b": ["x", True]}
    with pytest.raises(InvalidInput, match="nested deeper than 2"):
        validation.metadata({"a": [["deep"]]}, LIMITS)
    with pytest.raises(InvalidInput, match="nested objects are not allowed"):
        validation.metadata({"a": {"b": 1}}, LIMITS)
    with pytest.raises(InvalidInput, match="4 keys, over the limit of 3"):
        validation.metadata({"a": 1, "b": 2, "c": 3, "d": 4}, LIMITS)
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        validation.metadata(["a"], LIMITS)
    with pytest.raises(InvalidInput, match="metadata key"):
        validation.metadata({'bad"key': 1}, LIMITS)


def test_ids_and_scopes():
    assert validation.memory_id("abc_DEF-123") == "abc_DEF-123"
    for bad in ["", "a b", "x" * 65, "../etc", 5]:
        with pytest.raises(InvalidInput, match="not a memory id"):
            validation.memory_id(bad)
    assert validation.scope(LIMITS, user_id=" ", agent_id="bot").model_dump() == {
        "user_id": None,
        "agent_id": "bot",
        "session_id": None,
    }


def test_duplicate_normalisation():
    """Case, spaces and trailing full stops or exclamation marks do not count (README, Tools);
    a question mark, inner punctuation and every other character do."""
    same = [
        "Hello   World",
        "hello world",
        "Hello world.",
        "HELLO WORLD!!",
        "hello world ！",
        "hello world…",
    ]
    assert {validation.content_hash(t) for t in same} == {validation.content_hash("hello world")}
    for other in ("hello world?", "hello, world", "hello world 2", "hello world:"):
        assert validation.content_hash(other) != validation.content_hash("hello world"), other
    assert validation.content_hash("...") != validation.content_hash("!")  # nothing but stops
    assert [validation.noise(t) for t in ("a b.", "a b", "a b!!", "a  b", "a b?")] == [
        0,
        0,
        1,
        1,
        0,
    ]

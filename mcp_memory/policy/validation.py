"""Input checks shared by every entry point; each failure is an ``InvalidInput`` an agent can act on.

The MCP schema already constrains types and enums; these checks enforce what a schema cannot
(limits from settings, dates, metadata shape) and protect the Python API used directly.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from typing import Any, TypeVar

from mcp_memory.clock import to_utc
from mcp_memory.config import LimitSettings
from mcp_memory.errors import InvalidInput
from mcp_memory.models import Scope
from mcp_memory.policy import access

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LARGEST_INTEGER = 2**63 - 1
"""The largest integer a store keeps (SQLite's and PostgreSQL's 64-bit integers)."""
METADATA_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,64}$')

E = TypeVar("E", bound=StrEnum)


def content(text: Any, limits: LimitSettings) -> str:
    """A memory's text: non-empty, within ``max_content_chars``, stripped of surrounding
    whitespace."""
    return _text(
        text, "content", limits.max_content_chars, "give the text to remember",
        "shorten it or split it into several memories",
    )  # fmt: skip


def query(text: Any, limits: LimitSettings) -> str:
    """A search's query: non-empty, within ``max_query_chars``, stripped."""
    return _text(
        text, "query", limits.max_query_chars, "give the words to search for",
        "keep the words that say what you are looking for",
    )  # fmt: skip


def _text(value: Any, field: str, maximum: int, if_empty: str, if_long: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} is empty: {if_empty}")
    if len(value) > maximum:
        raise InvalidInput(
            f"{field} is {len(value)} characters long, over the limit of {maximum}: {if_long}"
        )
    return value


def memory_id(value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"id {str(value)[:80]!r} is not a memory id (1-64 letters, digits, '-' or '_'): "
            "use an id returned by add_memory, search_memory or list_memories"
        )
    return value


def scope(
    limits: LimitSettings,
    user_id: str | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
) -> Scope:
    """A scope from optional ids ('' means not given), confined to the caller's grant."""
    values: dict[str, str | None] = {}
    for name, value in (("user_id", user_id), ("agent_id", agent_id), ("session_id", session_id)):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
        value = (value or "").strip() or None
        if value is not None and len(value) > limits.max_scope_chars:
            raise InvalidInput(f"{name} is longer than {limits.max_scope_chars} characters")
        values[name] = value
    return access.confine(Scope(**values))


def choice(value: Any, enum: type[E], field: str) -> E:
    """An enum member from its value, with the allowed values in the error."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidInput(f"{field} {value!r} is not one of: {allowed}") from None


def unit_interval(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidInput(f"{field} must be a number between 0 and 1, got {_shown(value)}")
    return float(value)


def limit(value: Any, limits: LimitSettings, field: str = "limit") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limits.max_limit:
        raise InvalidInput(f"{field} must be between 1 and {limits.max_limit}, got {_shown(value)}")
    return value


def offset(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_INTEGER:
        raise InvalidInput(
            f"offset must be between 0 and {LARGEST_INTEGER} (the total says how many there "
            f"are), got {_shown(value)}"
        )
    return value


def _shown(value: Any) -> str:
    """A value for an error message: a huge number by its size, not its 4,000 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"a number of {value.bit_length()} bits"
    return repr(value)[:80]


def timestamp(
    value: Any,
    field: str,
    now: datetime,
    allow_future: bool = True,
    *,
    limits: LimitSettings | None = None,
) -> datetime:
    """An ISO-8601 date or date-time (naive values are UTC) within the accepted range.

    The range runs from the first day of ``limits.earliest_year`` to the end of year 9999, in
    UTC: a date outside it, or one whose offset carries it off the calendar
    (``9999-12-31T23:59:59-05:00``), is refused rather than stored or compared. Without
    ``limits`` the default range applies.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{field} {value[:60]!r} is not an ISO-8601 date, e.g. 2024-05-08 or "
                "2024-05-08T13:56:00Z"
            ) from None
    else:
        raise InvalidInput(f"{field} must be an ISO-8601 date string")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    earliest = (limits or LimitSettings()).earliest_year
    try:
        in_range = to_utc(moment).year >= earliest
    except ValueError:
        in_range = False
    if not in_range:
        raise InvalidInput(
            f"{field} {str(value)[:60]!r} is outside the accepted dates: from "
            f"{earliest:04d}-01-01T00:00:00Z to 9999-12-31T23:59:59Z once converted to UTC (the "
            "earliest year is the setting limits.earliest_year)"
        )
    if not allow_future and moment > now:
        raise InvalidInput(
            f"{field} {value!s} is in the future: memories are recorded, not planned"
        )
    return moment


def metadata(value: Any, limits: LimitSettings) -> dict[str, Any]:
    """A JSON object of strings, numbers, booleans and lists of those, within the size limits."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput('metadata must be a JSON object, e.g. {"project": "alpha"}')
    if len(value) > limits.max_metadata_keys:
        raise InvalidInput(
            f"metadata has {len(value)} keys, over the limit of {limits.max_metadata_keys}"
        )
    for key, item in value.items():
        if not isinstance(key, str) or not METADATA_KEY.match(key):
            raise InvalidInput(
                f"metadata key {str(key)[:70]!r} must be 1-64 characters without quotes, "
                "backslashes or control characters"
            )
        _metadata_value(item, key, 1, limits)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > limits.max_metadata_bytes:
        raise InvalidInput(
            f"metadata is {size} bytes as JSON, over the limit of {limits.max_metadata_bytes}"
        )
    return value


def _metadata_value(item: Any, key: str, depth: int, limits: LimitSettings) -> None:
    """Check one value; ``depth`` counts the containers around it (the object itself is 1)."""
    if item is None or isinstance(item, (str, bool)):
        return
    if isinstance(item, int):
        if not -LARGEST_INTEGER - 1 <= item <= LARGEST_INTEGER:
            raise InvalidInput(
                f"metadata value under {key!r} is {_shown(item)}, outside the 64-bit integers a "
                "store keeps: give it as a string"
            )
        return
    if isinstance(item, float):
        if item != item or item in (float("inf"), float("-inf")):
            raise InvalidInput(f"metadata value under {key!r} is not a finite number")
        return
    if isinstance(item, list):
        if depth + 1 > limits.max_metadata_depth:
            raise InvalidInput(
                f"metadata value under {key!r} is nested deeper than "
                f"{limits.max_metadata_depth} levels: flatten it"
            )
        for element in item:
            _metadata_value(element, key, depth + 1, limits)
        return
    raise InvalidInput(
        f"metadata value under {key!r} must be a string, number, boolean or a list of those; "
        "nested objects are not allowed: flatten them into top-level keys"
    )


HASH_SCHEME = "nfkc-casefold-spaces-end-stops/2"
"""Names ``normalise_text``'s rules: a store records the scheme its content hashes follow, and
hashes made under another are recomputed when it opens (``MemoryWriter.rehash``)."""

_END_STOPS = ".!。 "
"""Trailing characters that do not make a text another memory (after NFKC, which turns
'！' into '!' and '…' into '...'): full stops and exclamation marks. A question mark does."""


def normalise_text(text: str) -> str:
    """The form in which two texts count as exact duplicates: NFKC, case-folded, spaces
    collapsed, trailing full stops and exclamation marks dropped ("I am allergic to peanuts",
    "i am allergic to  peanuts." and "I am allergic to peanuts!!" are one memory)."""
    flat = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return flat.rstrip(_END_STOPS) or flat


def content_hash(text: str) -> str:
    return sha256(normalise_text(text).encode()).hexdigest()


def noise(text: str) -> int:
    """How much of a text's form ``normalise_text`` ignores beyond one closing mark: spaces
    past single ones, and repeated end stops ("peanuts!!" 1, "peanuts." 0). Of exact
    duplicates, a merge keeps the least noisy."""
    flat = " ".join(text.split())
    ending = len(flat) - len(flat.rstrip(_END_STOPS))
    return len(text) - len(flat) + max(0, ending - 1)

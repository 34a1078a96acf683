"""Time in one place: an injectable clock and the one timestamp format the ledger stores.

Timestamps are stored as fixed-width UTC ISO-8601 strings (``0999-06-01T00:00:00.000000+00:00``:
a four-digit year, always), so text order is time order and SQL can compare them directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Tests pass a fake to move time without sleeping."""

_UNPADDED_YEAR = re.compile(r"^(\d{1,3})-")
"""A year written without its leading zeros (``999-06-01...``): how ``strftime("%Y")`` wrote
years before 1000 until the format was spelled out. Such rows are still read."""


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def to_utc(moment: datetime) -> datetime:
    """The same instant in UTC (naive values are taken as UTC).

    Raises ``ValueError`` when the instant has no UTC form, i.e. falls before year 1 or after
    year 9999 once its offset is applied (``0001-01-01T00:00:00+05:00``); Python would raise
    ``OverflowError``, which callers would not expect from a bad date.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is outside years 1 to 9999 in UTC") from None


def to_iso(moment: datetime) -> str:
    """The stored form: UTC, four-digit year, microseconds, fixed width.

    Spelled out field by field rather than with ``strftime``, whose ``%Y`` drops the leading
    zeros of years before 1000 on some platforms (and such a string is not ISO-8601).
    """
    m = to_utc(moment)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}+00:00"
    )


def from_iso(text: str) -> datetime:
    """Parse a stored timestamp (or any ISO-8601 text); naive values are taken as UTC.

    Also reads the unpadded years earlier versions stored for dates before 1000, so a store
    holding one keeps working.
    """
    moment = datetime.fromisoformat(_UNPADDED_YEAR.sub(_pad_year, text, count=1))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _pad_year(match: re.Match[str]) -> str:
    return f"{int(match.group(1)):04d}-"

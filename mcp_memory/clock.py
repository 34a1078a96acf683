"""Time in one place: an injectable clock and the one timestamp format the ledger stores.

Timestamps are stored as fixed-width UTC ISO-8601 strings, so text order is time order and
SQL can compare them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware. Tests pass a fake to move time without sleeping."""


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """The stored form: UTC, microseconds, fixed width."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def from_iso(text: str) -> datetime:
    """Parse a stored timestamp (or any ISO-8601 text); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

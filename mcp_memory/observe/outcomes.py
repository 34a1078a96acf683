"""The outcome label of a call: ``ok`` or the kind of error, as ``/metrics`` counts it.

Apart from ``metrics.py`` so that counting needs no ``prometheus_client`` import (a stdio
server, which serves no metrics, never loads it).
"""

from __future__ import annotations

from mcp_memory.errors import MemoryServiceError


def outcome_of(error: BaseException | None) -> str:
    """The outcome label of a call that raised ``error`` (None: ``ok``)."""
    if error is None:
        return "ok"
    if isinstance(error, MemoryServiceError):
        return {
            "InvalidInput": "invalid_input",
            "MemoryNotFound": "not_found",
            "AccessDenied": "access_denied",
            "Conflict": "conflict",
            "StoreUnavailable": "store_unavailable",
            "IndexMismatch": "index_mismatch",
            "ConfigError": "config_error",
        }.get(type(error).__name__, "error")
    return "error"

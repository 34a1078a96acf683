"""What a local vector engine's failures mean: a full disk, or damaged files.

Chroma's embedded engine (its Rust core, over SQLite and HNSW files) and the scoped copy (SQLite)
report both conditions only in their messages, so they are recognised by those: SQLite's
``SQLITE_FULL`` / ``SQLITE_CORRUPT`` (a damaged page, or a damaged schema) /
``SQLITE_NOTADB`` texts (the same whether Chroma's Rust
core or Python's ``sqlite3`` raised them) and Chroma's failure to load an HNSW graph. Embedded
Qdrant names its own damage (``vectors.qdrant.edge``: ``damage=`` its markers). Anything
else is not guessed at: it stays the engine's own error. Damage is what the service mends by
rebuilding the index from the ledger, so the markers are the unambiguous ones only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mcp_memory.errors import IndexDamaged, MemoryServiceError
from mcp_memory.store.disk import Reserve, is_disk_full

F = TypeVar("F", bound=Callable[..., Any])

FULL_MARKERS = ("database or disk is full", "no space left on device")
DAMAGE_MARKERS = (
    "database disk image is malformed",
    "malformed database schema",
    "file is not a database",
    "error loading hnsw index",
)


def meaning(
    exc: BaseException, path: Path, reserve: Reserve, damage: tuple[str, ...] = DAMAGE_MARKERS
) -> MemoryServiceError | None:
    """The core error an engine failure stands for, or None when it is none of these."""
    text = str(exc).lower()
    if is_disk_full(exc) or any(marker in text for marker in FULL_MARKERS):
        return reserve.full()
    if any(marker in text for marker in damage):
        return IndexDamaged(path, _first_line(str(exc)))
    return None


@contextmanager
def engine_errors(
    path: Path, reserve: Reserve, damage: tuple[str, ...] = DAMAGE_MARKERS
) -> Iterator[None]:
    """Raise ``StorageFull`` or ``IndexDamaged`` for an engine failure that means one."""
    try:
        yield
    except MemoryServiceError:
        raise
    except Exception as exc:
        error = meaning(exc, path, reserve, damage)
        if error is None:
            raise
        raise error from exc


def translated(method: F) -> F:
    """A method of an object with ``_path`` and ``_reserve``, its failures translated (with
    the object's ``DAMAGE_MARKERS``, if it names its own)."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        damage = getattr(self, "DAMAGE_MARKERS", DAMAGE_MARKERS)
        with engine_errors(self._path, self._reserve, damage):
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line[:200]

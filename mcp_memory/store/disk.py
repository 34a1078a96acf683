"""The data directory on its disk: made ready at start, and the free space writes leave.

Two local engines keep files in the data directory, and they fail differently when the disk
fills: the SQLite ledger refuses the write (``SQLITE_FULL``) and rolls it back, but Chroma's
embedded engine can block inside a write (its Rust core waits in SQLite's busy handler) while
holding the GIL, so the whole server stops answering: filling an 8 MiB tmpfs with adds, 9 runs
of 12 hung without a reserve, none of 12 with 1 MiB (``benchmarks/storage_faults.py``). So
writes keep a reserve: while the disk has less free space than ``Reserve.bytes``, the engines
refuse writes with ``StorageFull`` before starting them (the ledger) or do not start them at
all (the vector index: its writes stay in the ledger's outbox until there is space), and
Chroma is not even read (a search scans the local copy of the vectors instead). One
``statvfs`` call (3 microseconds) per write.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mcp_memory.errors import StorageFull, StoreUnavailable

DEFAULT_RESERVE_MB = 64


def free_bytes(path: Path) -> int | None:
    """Free space, for an unprivileged writer, on the disk holding ``path`` (None: unknown)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class Reserve:
    """The free space writes leave on the disk holding ``path``: ``bytes`` (0: none)."""

    path: Path
    bytes: int = DEFAULT_RESERVE_MB * 1_048_576

    def low(self) -> bool:
        """Whether the disk has less free space than the reserve now."""
        if self.bytes <= 0:
            return False
        free = free_bytes(self.path)
        return free is not None and free < self.bytes

    def check(self) -> None:
        """Refuse a write (``StorageFull``) while the disk is under the reserve."""
        if self.low():
            raise self.full()

    def full(self) -> StorageFull:
        """The error to raise when a write failed for want of space (or would have)."""
        return StorageFull(self.path, free_bytes(self.path), self.bytes)


def used_bytes(path: Path) -> int:
    """What the files under ``path`` take on disk. A sparse file counts what is allocated, not
    its length: embedded Qdrant sizes its files ahead (a shard of 20 vectors is 160 MB long
    and takes 0.5 MB) and so, less, does Chroma."""
    total = 0
    for file in path.rglob("*"):
        try:
            stat = file.stat()
        except OSError:  # deleted meanwhile
            continue
        if file.is_file():
            blocks = getattr(stat, "st_blocks", None)
            total += stat.st_size if blocks is None else min(stat.st_size, blocks * 512)
    return total


def is_disk_full(exc: BaseException) -> bool:
    """Whether an ``OSError`` is the disk running out of space (or quota)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory if need be and check that files can be made in it, or say
    exactly what is wrong with it (``StoreUnavailable``, one line naming the path)."""
    path = path.expanduser()
    setting = "set data_dir (--data-dir, MCP_MEMORY_DATA_DIR) to a writable directory"
    if path.exists() and not path.is_dir():
        raise StoreUnavailable(f"data dir {path} is a file, not a directory: {setting}")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise StoreUnavailable(
            f"data dir {path} cannot be created: {blocker} is a file, not a directory: {setting}"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StoreUnavailable(_why_not_writable(path, exc, setting)) from None
    return path


def _why_not_writable(path: Path, exc: OSError, setting: str) -> str:
    if exc.errno == errno.EROFS:
        return f"data dir {path} is on a read-only file system: {setting}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        user = _user()
        return (
            f"data dir {path} is not writable by {user}: give {user} write permission "
            f"(e.g. chmod u+w {exc.filename or path}), or {setting}"
        )
    if is_disk_full(exc):
        return str(StorageFull(path, free_bytes(path)))
    return f"data dir {path} cannot be used ({exc.strerror or exc}): {setting}"


def _user() -> str:
    try:
        import getpass

        return f"user {getpass.getuser()!r}"
    except Exception:  # no user name (a container with an unknown uid)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"

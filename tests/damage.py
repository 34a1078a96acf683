"""Ways to damage the store's files on disk, as a crash, a bad copy or a failing disk would."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def checkpoint(path: Path) -> None:
    """Fold a SQLite file's WAL into it, so that damage to the file is what a reader meets."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def scramble_pages(path: Path) -> None:
    """Overwrite part of every page after the first with garbage (a disk writing junk)."""
    checkpoint(path)
    data = bytearray(path.read_bytes())
    for start in range(4096, len(data), 4096):
        data[start + 100 : start + 600] = os.urandom(len(data[start + 100 : start + 600]))
    path.write_bytes(bytes(data))


def scramble_header(path: Path) -> None:
    """Overwrite the file's header: SQLite no longer recognises it as a database."""
    checkpoint(path)
    with open(path, "r+b") as handle:
        handle.write(os.urandom(100))


def truncate(path: Path, fraction: float) -> None:
    """Cut a file to ``fraction`` of its size (a copy or a write cut short)."""
    checkpoint(path)
    os.truncate(path, int(path.stat().st_size * fraction))


def break_index_page(path: Path, index: str) -> None:
    """Overwrite the root page of one of the file's indexes: the file still opens and most
    reads work, but SQLite's integrity check finds the damage."""
    checkpoint(path)
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = ?", (index,)
        ).fetchone()
    finally:
        conn.close()
    with open(path, "r+b") as handle:
        handle.seek((root[0] - 1) * page_size)
        handle.write(b"\xff" * page_size)

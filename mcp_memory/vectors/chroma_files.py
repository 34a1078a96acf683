"""Embedded Chroma's files on disk: the segment folders a deleted collection leaves behind.

An embedded Chroma keeps each collection's HNSW graph in a folder named by the id of its vector
segment, beside ``chroma.sqlite3``. Deleting the collection forgets the segment but leaves the
folder: every reindex left the old graph behind (5,000 memories: 7.3 MB a reindex; after
three, 66.2 MB of Chroma files instead of 43.5 MB).
A folder named like a segment id that ``chroma.sqlite3`` no longer lists is such a leftover:
Chroma records a collection's segments when it creates the collection, before it writes any
folder, so a live collection's folder is always listed.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path

CHROMA_DB = "chroma.sqlite3"


def leftover_segments(path: Path) -> list[Path]:
    """The segment folders under an embedded Chroma directory that no collection uses; none
    when there is no readable ``chroma.sqlite3`` (a Chroma server, or a damaged store: then
    nothing is called a leftover)."""
    db = path / CHROMA_DB
    if not db.is_file():
        return []
    folders = [p for p in path.iterdir() if p.is_dir() and _is_uuid(p.name)]
    if not folders:
        return []
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            live = {str(row[0]) for row in conn.execute("SELECT id FROM segments")}
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return sorted(p for p in folders if p.name not in live)


def folder_bytes(folders: list[Path]) -> int:
    """The size of the files in these folders."""
    return sum(f.stat().st_size for p in folders for f in p.rglob("*") if f.is_file())


def remove_leftovers(path: Path) -> int:
    """Delete the leftover segment folders under ``path``; returns the bytes freed."""
    folders = leftover_segments(path)
    freed = folder_bytes(folders)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return freed


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False

"""What an embedded engine's failure text means (``vectors/faults.py``): the damage SQLite
reports under Chroma and in the scoped copy, told apart from errors that are not damage."""

from __future__ import annotations

import sqlite3

import pytest

from mcp_memory.errors import IndexDamaged
from mcp_memory.store.disk import Reserve
from mcp_memory.vectors.faults import meaning
from tests.damage import scramble_header


def _meaning(exc: BaseException, tmp_path):
    return meaning(exc, tmp_path / "chroma", Reserve(tmp_path, 0))


@pytest.mark.parametrize(
    "text",
    [
        # Chroma's Rust core, over SQLite: every page after the first overwritten, the schema
        # page among them (seen in CI as the start-up rebuild's damage; it was not recognised)
        "error returned from database: (code: 11) malformed database schema (80600501671968)",
        "error returned from database: (code: 11) database disk image is malformed",
        "error returned from database: (code: 26) file is not a database",
    ],
)
def test_sqlite_corruption_under_chroma_is_damage(tmp_path, text):
    error = _meaning(RuntimeError(text), tmp_path)
    assert isinstance(error, IndexDamaged)


def test_a_damaged_schema_read_by_sqlite_itself_is_damage(tmp_path):
    """The scoped copy reads its file with Python's sqlite3: a scrambled header there."""
    path = tmp_path / "scoped.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    scramble_header(path)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        sqlite3.connect(path).execute("SELECT * FROM t").fetchall()
    assert isinstance(_meaning(raised.value, tmp_path), IndexDamaged)


def test_other_engine_errors_are_not_guessed_at(tmp_path):
    assert _meaning(RuntimeError("collection memories does not exist"), tmp_path) is None

"""The statements a ledger runs, for tests and profiles (``Database.traced``): a cursor class
that, while someone is tracing, records each statement as it was written (with ``%s`` for its
parameters), as the SQLite ledger's ``traced`` records what SQLite runs."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql


def text_of(query: Any, conn: psycopg.Connection[Any]) -> str:
    """A statement as text, whether written as a string, bytes or composed SQL."""
    if isinstance(query, sql.Composable):
        return query.as_string(conn)
    return query.decode() if isinstance(query, bytes) else str(query)


def tracing_cursor(traces: list[list[str]]) -> type[psycopg.Cursor[Any]]:
    """A cursor class recording every statement into each list of ``traces`` (none: no cost
    beyond one look at the list)."""

    class Traced(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            for seen in tuple(traces):
                seen.append(text_of(query, self.connection))
            return super().execute(query, params, **kwargs)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            for seen in tuple(traces):
                seen.append(text_of(query, self.connection))
            return super().executemany(query, params_seq, **kwargs)

    return Traced

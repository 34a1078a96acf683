"""`mcp-memory migrate`: copy the SQLite store of the data dir into a PostgreSQL database
(``--to DSN``), or a PostgreSQL store back into the data dir (``--from DSN``), with a progress
bar; running it again changes nothing (``transfer.migrate``).

Each side's vectors go where its storage keeps them by default: embedded Chroma in the data
dir beside SQLite, pgvector beside PostgreSQL. The DSN's password is never printed: the
database is named by host, port, database and user."""

from __future__ import annotations

import argparse

from pydantic import SecretStr

from mcp_memory.cli.progress import ProgressBar
from mcp_memory.config import Settings
from mcp_memory.errors import InvalidInput


def run_migration(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.cli.main import for_bulk
    from mcp_memory.factory import build_embedder, build_service
    from mcp_memory.postgres.faults import Target
    from mcp_memory.transfer.migrate import migrate

    if args.batch_size < 1:
        raise InvalidInput("--batch-size must be at least 1")
    dsn = args.to or args.source
    schema = args.schema or settings.storage.schema
    sqlite = _side(settings, {"backend": "sqlite"})
    postgres = _side(settings, {"backend": "postgres", "dsn": SecretStr(dsn), "schema": schema})
    source, target = (sqlite, postgres) if args.to else (postgres, sqlite)
    named = {
        id(sqlite): f"the SQLite store in {settings.data_dir.expanduser()}",
        id(postgres): f"PostgreSQL at {Target.of(dsn)}, schema {schema}",
    }
    embedder = build_embedder(for_bulk(settings))
    origin = build_service(source, embedder=embedder)
    try:
        destination = build_service(target, embedder=embedder)
        try:
            bar = ProgressBar(origin.count(), "migrate")
            try:
                report = migrate(
                    origin,
                    destination,
                    destination.index_sync.apply,
                    batch_size=args.batch_size,
                    progress=bar.advance,
                    judge=destination.judge_sessions,
                )
            finally:
                bar.close()
        finally:
            destination.close()
    finally:
        origin.close()
    print(
        f"Copied {report.copied} memories ({report.present} already there, {report.vectors} "
        f"vectors reused) and {report.runs} consolidation runs from {named[id(source)]} to "
        f"{named[id(target)]}."
    )
    return 0


def _side(settings: Settings, storage: dict) -> Settings:
    """The settings of one side: its storage, and the vectors its storage keeps by default."""
    return settings.model_copy(
        update={
            "storage": settings.storage.model_copy(update=storage),
            "vector": settings.vector.model_copy(update={"backend": "auto"}),
        }
    )

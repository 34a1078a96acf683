"""The ``mcp-memory`` command: run the server, and look after the store from a terminal.

Logs go to stderr: in stdio mode stdout carries the MCP protocol and nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any

from mcp_memory import __version__
from mcp_memory.config import Settings, load_settings
from mcp_memory.consolidation.summary import consolidate_summary
from mcp_memory.errors import InvalidInput, MemoryServiceError

DESCRIPTION = """\
Long-term memory for AI agents, served over the Model Context Protocol.
Memories stay on this machine: a SQLite ledger and a Chroma vector index in the data directory.

Run `mcp-memory serve` from your MCP client's configuration (stdio), or with
`--transport http` / `--transport sse` to serve clients over the network."""


def _parser() -> argparse.ArgumentParser:
    # SUPPRESS: an option given before the command is not reset by the command's own parser.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="TOML config file (default: $MCP_MEMORY_CONFIG, then the user config dir)",
    )
    common.add_argument(
        "--data-dir", metavar="DIR", help="where memories are stored (default: the user data dir)"
    )
    common.add_argument(
        "--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity on stderr"
    )

    parser = argparse.ArgumentParser(
        prog="mcp-memory",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"mcp-memory {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", parents=[common], help="run the MCP server (stdio by default)"
    )
    serve.add_argument(
        "--transport",
        choices=["stdio", "sse", "http"],
        help="stdio (default), sse (at /sse) or http (streamable HTTP at /mcp)",
    )
    serve.add_argument("--host", help="address to bind for sse/http (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port for sse/http (default 8765)")

    stats = commands.add_parser("stats", parents=[common], help="show what is stored")
    _scope_args(stats)
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")

    consolidate = commands.add_parser(
        "consolidate", parents=[common], help="tidy memories (journaled, undoable)"
    )
    _scope_args(consolidate)
    consolidate.add_argument("--dry-run", action="store_true", help="only report what would change")
    consolidate.add_argument("--undo", metavar="RUN_ID", help="reverse a journaled run")
    consolidate.add_argument("--json", action="store_true", help="print JSON instead of a summary")

    export = commands.add_parser(
        "export", parents=[common], help="write memories (with history) to a JSONL file"
    )
    _scope_args(export)
    export.add_argument("file", metavar="FILE.jsonl", help="where to write ('-' for stdout)")

    imp = commands.add_parser(
        "import", parents=[common], help="add memories from a JSONL file (e.g. an export)"
    )
    imp.add_argument("file", metavar="FILE.jsonl", help="one JSON record a line ('-' for stdin)")
    imp.add_argument(
        "--batch-size",
        type=int,
        help="records per transaction and encode (default: performance.import_batch_size, 1024)",
    )
    _operations_commands(commands, common)
    return parser


def _operations_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """reindex, doctor and config: looking after an installation."""
    reindex = commands.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the vector index from the ledger (e.g. with another model)",
    )
    reindex.add_argument(
        "--model", help="embedding model to rebuild with (default: the configured one)"
    )
    doctor = commands.add_parser(
        "doctor", parents=[common], help="check the installation and the store"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of a table")
    doctor.add_argument(
        "--repair", action="store_true", help="also repair the index from the ledger"
    )
    _migrate_command(commands, common)
    config = commands.add_parser("config", parents=[common], help="the configuration file")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="write a commented config file with every default")
    init.add_argument(
        "--path", help="where to write it (default: config.toml in the user config dir)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")


def _migrate_command(commands: Any, common: argparse.ArgumentParser) -> None:
    migrate = commands.add_parser(
        "migrate",
        parents=[common],
        help="copy the SQLite store to PostgreSQL (--to DSN) or back (--from DSN)",
    )
    way = migrate.add_mutually_exclusive_group(required=True)
    way.add_argument("--to", metavar="DSN", help="copy the data dir's store into this database")
    way.add_argument("--from", dest="source", metavar="DSN", help="copy it back into the data dir")
    migrate.add_argument("--schema", help="the schema in PostgreSQL (default: [storage] schema)")
    migrate.add_argument("--batch-size", type=int, default=500, help="memories per transaction")


def _scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-id")
    parser.add_argument("--agent-id")
    parser.add_argument("--session-id")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": getattr(args, "data_dir", None),
        "log_level": getattr(args, "log_level", None),
    }
    server = {
        k: v
        for k, v in (
            ("transport", getattr(args, "transport", None)),
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
        )
        if v is not None
    }
    settings = load_settings(getattr(args, "config", None), **overrides)
    if server:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
    if args.command == "config":  # writes the file: must work before a valid one exists
        return cmd_config(None, args)
    try:
        settings = _settings(args)
        logging.basicConfig(
            level=settings.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return COMMANDS[args.command](settings, args)
    except MemoryServiceError as exc:
        print(f"mcp-memory: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _service(settings: Settings):
    from mcp_memory.factory import build_service

    return build_service(settings)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.mcp.serve import run_server  # this command alone loads the MCP SDK

    run_server(settings)
    return 0


def _scope(args: argparse.Namespace) -> dict[str, str | None]:
    return {"user_id": args.user_id, "agent_id": args.agent_id, "session_id": args.session_id}


def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    service = _service(settings)
    result = service.stats(**_scope(args))
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    rows: list[tuple[str, Any]] = [
        ("total memories", result.total_memories),
        ("average importance", result.average_importance),
        ("vectors indexed", result.vectors_indexed),
        ("pending index", result.pending_index),
        ("index in sync", result.index_in_sync),
        ("embedder", result.embedder),
        ("storage", f"{result.storage_bytes / 1_048_576:.1f} MiB"),
        ("data dir", settings.data_dir),
    ]
    if last := result.last_consolidation:
        undone = f", undone {last.undone_at:%Y-%m-%d %H:%M}" if last.undone_at else ""
        rows.append(("last consolidation", f"{last.run_id} at {last.at:%Y-%m-%d %H:%M}{undone}"))
    for title, counts in (
        ("by user", result.by_user),
        ("by type", result.by_type),
        ("by category", result.by_category),
        ("by stage", result.by_stage),
        ("by retention", result.by_retention),
        ("by age", result.age_distribution.model_dump()),
    ):
        rows.append((title, ", ".join(f"{k}: {v}" for k, v in counts.items()) or "-"))
    width = max(len(title) for title, _ in rows)
    for title, value in rows:
        print(f"{title:<{width}}  {value}")
    return 0


def cmd_consolidate(settings: Settings, args: argparse.Namespace) -> int:
    service = _service(settings)
    result = service.consolidate(**_scope(args), dry_run=args.dry_run, undo=args.undo)
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(consolidate_summary(result, undo_hint="mcp-memory consolidate --undo {}"))
    for action in result.actions:
        others = f" <- {', '.join(action.other_ids)}" if action.other_ids else ""
        print(f"  {action.action} {action.memory_id}{others}: {action.reason}")
    return 0


def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.cli.progress import ProgressBar
    from mcp_memory.factory import reindex_store

    bar: list[ProgressBar] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(ProgressBar(total, "reindex"))
        bar[0].advance(done - bar[0].done)

    try:
        result = reindex_store(settings, model=args.model, progress=progress)
    finally:
        if bar:
            bar[0].close()
    print(
        f"Reindexed {result.memories} memories with {result.model} ({result.dimension} "
        f"dimensions) in {result.seconds:.1f} s: collection {result.new_collection} replaces "
        f"{result.old_collection}."
    )
    if result.model != settings.embedding.model:
        print(
            f"Now configure the same model: [embedding] model = {result.model!r} in the config "
            f"file (or MCP_MEMORY_EMBEDDING__MODEL), and restart running servers; until then "
            "they refuse the new index with a message pointing here."
        )
    return 0


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from mcp_memory.cli import doctor

    checks = doctor.run(settings, getattr(args, "config", None), repair=args.repair)
    report = doctor.as_json(checks)
    print(json.dumps(report, indent=2) if args.json else doctor.render(checks))
    return 0 if report["ok"] else 1


def cmd_config(settings: Settings | None, args: argparse.Namespace) -> int:
    """``config init``: to --path, else --config / $MCP_MEMORY_CONFIG, else the user config dir."""
    from pathlib import Path

    import platformdirs

    from mcp_memory.cli import config_template
    from mcp_memory.config import APP_NAME, config_file_path

    path = Path(
        args.path
        or config_file_path(getattr(args, "config", None))
        or Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"
    )
    try:
        config_template.write(path.expanduser(), force=args.force)
    except FileExistsError:
        print(f"mcp-memory: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return 1
    print(f"Wrote {path}: every setting with its default, commented out.")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.cli.progress import ProgressBar

    service = _service(settings)
    total = service.count(**_scope(args))
    bar = ProgressBar(total, "export")
    out = sys.stdout if args.file == "-" else open(args.file, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for record in service.export_records(**_scope(args)):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            bar.advance(1)
    finally:
        bar.close()
        if out is not sys.stdout:
            out.close()
    print(f"Exported {bar.done} memories to {args.file}.", file=sys.stderr)
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.cli.progress import ProgressBar

    batch_size = args.batch_size or settings.performance.import_batch_size
    if batch_size < 1:
        raise InvalidInput("--batch-size must be at least 1")
    lines = sys.stdin.readlines() if args.file == "-" else None
    service = _service(for_bulk(settings))
    total = service.check_records(_records(args.file, lines))
    bar = ProgressBar(total, "import")
    try:
        report = service.import_records(
            _records(args.file, lines), batch_size=batch_size, progress=bar.advance
        )
    finally:
        bar.close()
    print(
        f"Imported {report.imported} memories; skipped {report.skipped} already present.",
        file=sys.stderr,
    )
    return 0


def for_bulk(settings: Settings) -> Settings:
    """A batch job uses every core for encoding unless encode_threads was set explicitly."""
    perf = settings.performance
    if "encode_threads" in perf.model_fields_set:
        return settings
    return settings.model_copy(
        update={"performance": perf.model_copy(update={"encode_threads": 0})}
    )


def _records(path: str, lines: list[str] | None) -> Iterator[Any]:
    """The JSON records of a JSONL file (blank lines skipped); bad JSON names its line."""
    if lines is None:
        try:
            handle = open(path, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    with handle if lines is None else nullcontext(lines) as source:
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path} line {number} is not JSON: {exc.msg}") from None


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.cli.migrate import run_migration

    return run_migration(settings, args)


COMMANDS = {
    "serve": cmd_serve,
    "stats": cmd_stats,
    "consolidate": cmd_consolidate,
    "export": cmd_export,
    "import": cmd_import,
    "reindex": cmd_reindex,
    "doctor": cmd_doctor,
    "config": cmd_config,
    "migrate": cmd_migrate,
}


if __name__ == "__main__":
    sys.exit(main())

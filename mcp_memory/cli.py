"""The ``mcp-memory`` command: run the server, and look after the store from a terminal.

Logs go to stderr: in stdio mode stdout carries the MCP protocol and nothing else.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from mcp_memory import __version__
from mcp_memory.config import Settings, load_settings
from mcp_memory.errors import MemoryServiceError

DESCRIPTION = """\
Long-term memory for AI agents, served over the Model Context Protocol.
Memories stay on this machine: a SQLite ledger and a Chroma vector index in the data directory.

Run `mcp-memory serve` from your MCP client's configuration (stdio), or with
`--transport http` / `--transport sse` to serve clients over the network."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
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
    return parser


def _scope_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user-id")
    parser.add_argument("--agent-id")
    parser.add_argument("--session-id")


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"data_dir": args.data_dir, "log_level": args.log_level}
    server = {
        k: v
        for k, v in (
            ("transport", getattr(args, "transport", None)),
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
        )
        if v is not None
    }
    settings = load_settings(args.config, **overrides)
    if server:
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
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
    from mcp_memory.server import check_network_security, serve

    check_network_security(settings)
    service = _service(settings)
    try:
        serve(settings, service)
    finally:
        service.close()
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
    from mcp_memory.server import consolidate_summary

    print(consolidate_summary(result, undo_hint="mcp-memory consolidate --undo {}"))
    for action in result.actions:
        others = f" <- {', '.join(action.other_ids)}" if action.other_ids else ""
        print(f"  {action.action} {action.memory_id}{others}: {action.reason}")
    return 0


COMMANDS = {"serve": cmd_serve, "stats": cmd_stats, "consolidate": cmd_consolidate}


if __name__ == "__main__":
    sys.exit(main())

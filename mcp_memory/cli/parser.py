"""The command line's grammar: every command, its options and their help.

``main.py`` runs what this parses; the command table (``COMMANDS``) maps each name to its
function there.
"""

from __future__ import annotations

import argparse
from typing import Any

from mcp_memory import __version__

DESCRIPTION = """\
Long-term memory for AI agents, served over the Model Context Protocol.
Memories stay on this machine: a SQLite ledger and a vector index (Chroma or Qdrant) in the data
directory (or, with [storage] backend = "postgres", in a PostgreSQL database several servers
share).

Run `mcp-memory serve` from your MCP client's configuration (stdio), or with
`--transport http` / `--transport sse` to serve clients over the network."""


def build_parser() -> argparse.ArgumentParser:
    """The command line: global options, then one sub-command each."""
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

    _serve_command(commands, common)
    _page_command(commands, common)
    _memory_commands(commands, common)
    _operations_commands(commands, common)
    return parser


def _serve_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """serve: the MCP server, on stdio or the network."""
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
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="sse/http without a bearer token (loopback only; by default a token is required, "
        "generated on first start)",
    )


def _memory_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """stats, consolidate, export and import: what is stored."""
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


def _page_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """ui: the memory page alone, for stdio set-ups."""
    ui = commands.add_parser(
        "ui", parents=[common], help="the memory page in your browser (a loopback server)"
    )
    ui.add_argument("--port", type=int, help="port on 127.0.0.1 (default 8766; 0: any free one)")
    ui.add_argument(
        "--open", action="store_true", help="open the one-time sign-in link in your browser"
    )


def _operations_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """reindex, doctor, config and migrate: looking after an installation."""
    reindex = commands.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the vector index from the ledger (e.g. with another model)",
    )
    reindex.add_argument(
        "--model", help="embedding model to rebuild with (default: the configured one)"
    )
    reindex.add_argument(
        "--vector-backend",
        choices=["chroma", "qdrant", "pgvector"],
        help="engine to rebuild into; the servers switch to it once it is built "
        "(default: [vector] backend)",
    )
    doctor = commands.add_parser(
        "doctor", parents=[common], help="check the installation and the store"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of a table")
    doctor.add_argument(
        "--repair", action="store_true", help="also repair the index from the ledger"
    )
    config = commands.add_parser("config", parents=[common], help="the configuration file")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="write a commented config file with every default")
    init.add_argument(
        "--path", help="where to write it (default: config.toml in the user config dir)"
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _migrate_command(commands, common)


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

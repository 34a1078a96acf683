"""The ``mcp-memory`` command: run the server, and look after the store from a terminal.

Logs go to stderr: in stdio mode stdout carries the MCP protocol and nothing else. A command
that fails says why on one line of stderr and exits with status 1: the core's errors carry
their message, and a file the system refuses (``OSError``) is named with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import Any

from mcp_memory.cli.parser import build_parser
from mcp_memory.config import Settings, load_settings, vector_backend
from mcp_memory.consolidation.summary import consolidate_summary
from mcp_memory.errors import InvalidInput, MemoryServiceError, StorageFull, StoreUnavailable
from mcp_memory.observe.logs import configure_logging
from mcp_memory.store.disk import free_bytes, is_disk_full


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
    if server and args.command == "serve":
        settings = settings.model_copy(update={"server": settings.server.model_copy(update=server)})
    if getattr(args, "no_auth", False):
        security = settings.security.model_copy(update={"no_auth": True})
        settings = settings.model_copy(update={"security": security})
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return 2
    if args.command == "config":  # writes the file: must work before a valid one exists
        return cmd_config(None, args)
    try:
        settings = _settings(args)
        configure_logging(settings.log_level, settings.log_format)
        return COMMANDS[args.command](settings, args)
    except MemoryServiceError as exc:
        if args.command == "serve" and getattr(args, "transport", None) in (None, "stdio"):
            return cmd_serve(None, args, failure=exc)  # still answers its client
        print(f"mcp-memory: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"mcp-memory: {os_error(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def os_error(exc: OSError) -> str:
    """One line for a file the system refused: which, and why."""
    name = f" {exc.filename}" if exc.filename else ""
    if is_disk_full(exc):
        return str(StorageFull(exc.filename or "?", free_bytes(_path(exc.filename))))
    return f"cannot use{name}: {exc.strerror or exc}"


def _path(name: Any) -> Any:
    from pathlib import Path

    return Path(str(name or ".")).parent


def _service(settings: Settings):
    from mcp_memory.factory import build_service

    return build_service(settings)


def cmd_serve(
    settings: Settings | None, args: argparse.Namespace, failure: Exception | None = None
) -> int:
    """Serve; with a ``failure`` (the settings did not load), say why on one line and answer
    every call of the stdio client with it (``mcp.serve.serve_unavailable``)."""
    from mcp_memory.mcp.serve import run_server, serve_unavailable  # the one MCP importer

    if settings is None:
        configure_logging(getattr(args, "log_level", "INFO"))
        serve_unavailable(failure or StoreUnavailable("no settings"))
        return 1
    run_server(settings)
    return 0


def cmd_ui(settings: Settings, args: argparse.Namespace) -> int:
    from mcp_memory.web.local import serve_locally

    port = settings.ui.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise InvalidInput(f"--port must be from 0 to 65535, not {port}")
    service = _service(settings)
    try:
        serve_locally(settings, service, port, sys.stdout, open_browser=args.open)
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
        ("storage", _mib(result.storage_bytes)),
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


def _mib(size: int | None) -> str:
    return "- (whole store only)" if size is None else f"{size / 1_048_576:.1f} MiB"


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
        result = reindex_store(
            settings, model=args.model, progress=progress, backend=args.vector_backend
        )
    finally:
        if bar:
            bar[0].close()
    print(
        f"Reindexed {result.memories} memories with {result.model} ({result.dimension} "
        f"dimensions) in {result.seconds:.1f} s: {result.new_backend} collection "
        f"{result.new_collection} replaces {result.old_backend} collection "
        f"{result.old_collection}."
    )
    if result.new_backend != vector_backend(settings):
        print(
            f'Now configure the same engine: [vector] backend = "{result.new_backend}" in the '
            f"config file (or MCP_MEMORY_VECTOR__BACKEND); running servers already use it."
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

    out = sys.stdout if args.file == "-" else _open_for_writing(args.file)
    service = _service(settings)
    total = service.count(**_scope(args))
    bar = ProgressBar(total, "export")
    try:
        for record in service.export_records(**_scope(args)):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            bar.advance(1)
    except OSError as exc:
        if is_disk_full(exc):
            raise StorageFull(args.file, free_bytes(_path(args.file))) from None
        raise InvalidInput(f"writing the export to {args.file} failed: {exc}") from None
    finally:
        bar.close()
        if out is not sys.stdout:
            out.close()
    print(f"Exported {bar.done} memories to {args.file}.", file=sys.stderr)
    return 0


def _open_for_writing(path: str) -> Any:
    """The export file, opened before any work, or one line saying why it cannot be."""
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"cannot write the export to {path}: {exc.strerror or exc}; give a path in a "
            "writable directory (or '-' for stdout)"
        ) from None


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
    if report.redacted:
        kinds = ", ".join(f"{kind} in {n}" for kind, n in sorted(report.redacted.items()))
        print(f"Secrets cut out before storing (records per kind): {kinds}.", file=sys.stderr)
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
    "ui": cmd_ui,
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

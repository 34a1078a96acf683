"""`mcp-memory doctor` for a PostgreSQL store: the server (reachable, its version), pgvector
and the store's schema, each a ``Check`` row; the rows after them (ledger, vector index,
ledger vs index) are the same as for SQLite. Nothing here shows the DSN's password: the
server is named by host, port, database and user."""

from __future__ import annotations

from mcp_memory.cli.checks import Check
from mcp_memory.config import Settings, vector_backend
from mcp_memory.errors import MemoryServiceError

RESTORE_DATABASE = (
    "mend it on the database: `REINDEX SCHEMA <schema>;` for a damaged index, a restore from "
    "a backup for damaged rows (README, Many machines: what to back up); then restart the "
    "servers"
)


def psql(settings: Settings, statement: str) -> str:
    """A ``psql`` command running ``statement`` in the store's schema; the password left out
    (psql asks for it, or reads PGPASSWORD / ~/.pgpass)."""
    from mcp_memory.postgres.faults import Target

    cfg = settings.storage
    target = Target.of(cfg.dsn.get_secret_value())
    user = f" -U {target.user}" if target.user else ""
    return (
        f"psql -h {target.host} -p {target.port}{user} -d {target.database} "
        f'-c "SET search_path = {cfg.schema}; {statement}"'
    )


def check_database(settings: Settings) -> list[Check]:
    """The server, pgvector (when the vectors live there) and the schema's migrations."""
    from mcp_memory.postgres.probe import probe

    cfg = settings.storage
    try:
        found = probe(cfg.dsn.get_secret_value(), cfg.schema, cfg.timeout_s)
    except MemoryServiceError as exc:
        return [
            Check(
                "database",
                "fail",
                str(exc),
                "start PostgreSQL or fix [storage] dsn (MCP_MEMORY_STORAGE__DSN): host, port, "
                "database, user; the password from PGPASSWORD or ~/.pgpass",
            )
        ]
    where = f"PostgreSQL {found.server} at {found.target}"
    checks = [
        Check("database", "ok", f"{where}, schema {cfg.schema}")
        if found.supported
        else Check("database", "fail", f"{where}: too old", "upgrade to PostgreSQL 14 or later")
    ]
    if vector_backend(settings) == "pgvector":
        checks.append(_pgvector(found.vector_installed, found.vector_available))
    checks.append(_schema(found.schema_version, found.latest_schema, cfg.schema))
    return checks


def _pgvector(installed: str | None, available: bool) -> Check:
    if installed:
        return Check("pgvector", "ok", f"extension vector {installed} installed")
    if available:
        return Check(
            "pgvector",
            "warn",
            "available on the server, not installed in this database",
            "the first server start installs it if its user may (a superuser); else run "
            "CREATE EXTENSION vector; as one",
        )
    return Check(
        "pgvector",
        "fail",
        "not available on the server",
        'install pgvector on the server, or keep vectors in Chroma ([vector] backend = "http")',
    )


def _schema(version: int | None, latest: int, schema: str) -> Check:
    if version is None:
        return Check("schema", "ok", f"{schema}: no store yet; created at the first start")
    if version < latest:
        return Check(
            "schema",
            "warn",
            f"{schema}: version {version} of {latest}",
            "migrated at the next start",
        )
    if version > latest:
        return Check(
            "schema",
            "fail",
            f"{schema}: version {version}, newer than this mcp-memory knows ({latest})",
            "upgrade mcp-memory on this host to the version the other servers run",
        )
    return Check("schema", "ok", f"{schema}: version {version} (up to date)")

"""`mcp-memory doctor` on a PostgreSQL store: the server, pgvector, the schema, then the same
ledger and index rows as for SQLite; the DSN's password in none of it."""

from __future__ import annotations

import json

from mcp_memory.cli import doctor
from mcp_memory.factory import build_service
from tests.conftest import PG_PASSWORD
from tests.postgres.test_faults import postgres_settings
from tests.postgres_server import free_port


def test_doctor_checks_the_database_pgvector_the_schema_and_the_index(
    tmp_path, postgres_dsn, embedder
):
    settings = postgres_settings(tmp_path, postgres_dsn)
    fresh = {c.name: c for c in doctor.run(settings, None)}
    assert "no store yet" in fresh["schema"].detail or "up to date" in fresh["schema"].detail
    service = build_service(settings, embedder=embedder)
    kept = service.add("The spare key is under the mat", user_id="u").id
    service.add("The bike is in the shed", user_id="u")
    service.flush()
    service.index.delete([kept])
    service.close()
    checks = doctor.run(settings, None)
    found = {c.name: c for c in checks}
    assert found["database"].status == "ok" and "PostgreSQL 1" in found["database"].detail
    assert found["pgvector"].status == "ok" and "installed" in found["pgvector"].detail
    assert found["schema"].status == "ok" and "up to date" in found["schema"].detail
    assert "pgvector" in found["vector index"].detail and "data dir" not in found
    assert (
        found["ledger vs index"].status == "warn" and "1 missing" in found["ledger vs index"].detail
    )
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert repaired["ledger vs index"].status == "ok"
    shown = doctor.render(checks) + json.dumps(doctor.as_json(checks))
    assert PG_PASSWORD not in shown


def test_doctor_names_an_unreachable_server_and_stops_there(tmp_path):
    port = free_port()
    dsn = f"postgresql://mcp:{PG_PASSWORD}@127.0.0.1:{port}/memories"
    checks = doctor.run(postgres_settings(tmp_path, dsn, timeout_s=2), None)
    assert checks[-1].name == "database" and checks[-1].status == "fail"
    assert f"127.0.0.1:{port}" in checks[-1].detail and "dsn" in checks[-1].fix
    report = doctor.as_json(checks)
    assert report["ok"] is False and PG_PASSWORD not in json.dumps(report)

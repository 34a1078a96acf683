"""The database away: at start-up one clear line naming the server, no traceback; while it is
down, clear errors and nothing acknowledged; when it is back, the same process carries on. The
DSN's password shows nowhere (errors, logs, the CLI's output, exports)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest

from mcp_memory.config import load_settings
from mcp_memory.errors import StoreUnavailable
from mcp_memory.factory import build_service
from tests.conftest import PG_PASSWORD
from tests.engines import fresh_schema
from tests.postgres_server import free_port, running_postgres


def postgres_settings(tmp_path, dsn: str, **storage):
    return load_settings(
        data_dir=tmp_path / "data",
        storage={"backend": "postgres", "dsn": dsn, "schema": fresh_schema(), **storage},
    )


def test_an_unreachable_server_at_start_up_is_one_error_naming_it(tmp_path, embedder):
    port = free_port()
    dsn = f"postgresql://mcp:{PG_PASSWORD}@127.0.0.1:{port}/memories"
    with pytest.raises(StoreUnavailable) as caught:
        build_service(postgres_settings(tmp_path, dsn, timeout_s=2), embedder=embedder)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "database memories as mcp" in message
    assert "storage] dsn" in message and PG_PASSWORD not in message


def test_the_command_line_says_it_in_one_line_without_a_traceback(tmp_path):
    """A command fails with one line (exit status 1); a stdio server says why in one line and
    answers its client with it (tests/integration/test_start_failures.py), here a client that
    hangs up at once."""
    port = free_port()
    env = {
        **os.environ,
        "MCP_MEMORY_DATA_DIR": str(tmp_path / "data"),
        "MCP_MEMORY_STORAGE__BACKEND": "postgres",
        "MCP_MEMORY_STORAGE__DSN": f"postgresql://mcp:{PG_PASSWORD}@127.0.0.1:{port}/memories",
        "MCP_MEMORY_STORAGE__TIMEOUT_S": "2",
        "HF_HUB_OFFLINE": "1",
    }
    for command, status, start in (
        (["stats"], 1, "mcp-memory: PostgreSQL at"),
        (["serve"], 0, "mcp-memory could not start: PostgreSQL at"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "mcp_memory", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert done.returncode == status, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and start in lines[0], done.stderr
        assert f"127.0.0.1:{port}" in lines[0] and PG_PASSWORD not in done.stderr + done.stdout


def test_calls_fail_clearly_while_the_database_is_down_and_work_once_it_is_back(
    tmp_path, embedder, caplog
):
    caplog.set_level(logging.DEBUG)
    with running_postgres() as server:
        settings = postgres_settings(tmp_path, server.dsn(PG_PASSWORD), timeout_s=2)
        service = build_service(settings, embedder=embedder)
        try:
            kept = service.add("The boat is moored at pier seven", user_id="u").id
            service.flush()
            server.stop()
            for call in (
                lambda: service.add("The bike is in the shed", user_id="u"),
                lambda: service.search("where is the boat?", user_id="u"),
                lambda: service.get(kept),
            ):
                with pytest.raises(StoreUnavailable) as caught:
                    call()
                assert f"127.0.0.1:{server.port}" in str(caught.value)
                assert PG_PASSWORD not in str(caught.value)
            server.start()
            added = _once_it_is_back(
                lambda: service.add("The car is in the garage", user_id="u").id
            )
            hits = service.search("where is the boat?", user_id="u").results
            assert hits[0].id == kept and service.get(added).memory.user_id == "u"
            assert service.stats(user_id="u").total_memories == 2  # the failed add is not there
            exported = list(service.export_records(user_id="u"))
            assert PG_PASSWORD not in json.dumps(exported)
        finally:
            service.close()
    assert PG_PASSWORD not in caplog.text


def _once_it_is_back(call, deadline_s: float = 60.0):
    """The call's result once the database answers again: the first calls after a restart may
    still meet the pool reconnecting, and fail with the same clear error meanwhile."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return call()
        except StoreUnavailable as exc:
            assert PG_PASSWORD not in str(exc)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # poll interval of a bounded wait, not a synchronisation

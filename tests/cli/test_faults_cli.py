"""What a user sees when the system is in the way: one line naming the path or argument and
what to do, exit status 1, never a traceback (the real command line, in subprocesses)."""

from __future__ import annotations

import json
import subprocess

import pytest

from mcp_memory.factory import CHROMA_DIR, LEDGER_FILE, build_service
from tests.damage import scramble_pages, truncate
from tests.mounts import read_only_dir
from tests.processes import run_cli


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The failure's message: exit status 1, a single line on stderr, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def stored(settings, embedder):
    service = build_service(settings, embedder=embedder)
    service.add("The spare key is under the blue flower pot", user_id="ida")
    service.add("Ida's bike lock code is written in her diary", user_id="ida")
    service.flush()
    service.close()
    return settings.data_dir


def test_a_data_dir_under_a_file(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a directory")
    line = one_line_error(run_cli("stats", "--data-dir", str(blocker / "memory")))
    assert f"{blocker} is a file, not a directory" in line and "data_dir" in line
    line = one_line_error(run_cli("stats", "--data-dir", str(blocker)))
    assert f"data dir {blocker} is a file" in line


def test_a_read_only_data_dir(tmp_path):
    with read_only_dir(tmp_path / "locked") as locked:
        line = one_line_error(run_cli("stats", "--data-dir", str(locked)))
        assert str(locked) in line and ("read-only" in line or "not writable" in line)
        line = one_line_error(run_cli("stats", "--data-dir", str(locked / "inside")))
        assert str(locked / "inside") in line


def test_an_unwritable_export_path(stored, tmp_path):
    target = tmp_path / "no-such-dir" / "out.jsonl"
    line = one_line_error(run_cli("export", "--data-dir", str(stored), str(target)))
    assert f"cannot write the export to {target}" in line and "No such file" in line


def test_a_model_name_that_is_not_on_this_machine(stored):
    result = run_cli(
        "stats", "--data-dir", str(stored), MCP_MEMORY_EMBEDDING__MODEL="no-such/model"
    )
    line = one_line_error(result)
    assert "embedding model 'no-such/model' was not found" in line
    assert "never downloads" in line and "internet" not in line


def test_doctor_and_repair_on_a_damaged_index_from_the_command_line(stored):
    scramble_pages(stored / CHROMA_DIR / "chroma.sqlite3")
    found = run_cli("doctor", "--json", "--data-dir", str(stored))
    assert found.returncode == 1 and "Traceback" not in found.stderr, found.stderr
    checks = {c["name"]: c for c in json.loads(found.stdout)["checks"]}
    assert checks["vector index"]["status"] == "fail"
    assert "--repair" in checks["vector index"]["fix"]
    repaired = run_cli("doctor", "--repair", "--json", "--data-dir", str(stored))
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert json.loads(repaired.stdout)["ok"] is True


def test_doctor_on_a_truncated_ledger_from_the_command_line(stored):
    truncate(stored / LEDGER_FILE, 0.5)
    found = run_cli("doctor", "--json", "--data-dir", str(stored))
    assert found.returncode == 1 and "Traceback" not in found.stderr, found.stderr
    checks = {c["name"]: c for c in json.loads(found.stdout)["checks"]}
    assert checks["ledger"]["status"] == "fail" and "damaged" in checks["ledger"]["detail"]
    line = one_line_error(run_cli("stats", "--data-dir", str(stored)))
    assert str(stored / LEDGER_FILE) in line and "backup" in line

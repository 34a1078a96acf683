"""`mcp-memory consolidate` and its `--undo`, run as a user would (a real subprocess)."""

import json
from datetime import timedelta

from mcp_memory.clock import to_iso, utc_now
from mcp_memory.factory import build_service
from tests.processes import run_cli


def test_consolidate_then_undo_from_the_command_line(settings, embedder):
    service = build_service(settings, embedder=embedder)
    old = service.add(
        "Lived in Ghent", user_id="ann", created_at=to_iso(utc_now() - timedelta(400))
    )
    service.close()
    data = str(settings.data_dir)
    done = run_cli("consolidate", "--data-dir", data, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["archived"] == 1 and result["actions"][-1]["memory_id"] == old.id
    stats = run_cli("stats", "--data-dir", data)
    assert f"last consolidation  {result['run_id']}" in stats.stdout
    undo = run_cli("consolidate", "--data-dir", data, "--undo", result["run_id"])
    assert undo.returncode == 0, undo.stderr
    assert undo.stdout.startswith(f"Undid run {result['run_id']}")
    again = run_cli("consolidate", "--data-dir", data, "--undo", result["run_id"])
    assert again.returncode == 1 and "already undone" in again.stderr
    as_json = json.loads(run_cli("stats", "--data-dir", data, "--json").stdout)
    assert as_json["by_stage"] == {"active": 1}

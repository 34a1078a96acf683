"""The command line, run as a user would: a real subprocess on a temporary data dir."""

import json

import pytest

from mcp_memory.factory import build_service
from tests.processes import run_cli


@pytest.fixture
def filled(settings, embedder):
    service = build_service(settings, embedder=embedder)
    service.add("Prefers trains over planes", user_id="ann")
    service.add("Prefers trains to planes", user_id="ann")
    service.add("Lives in Ghent", user_id="ben")
    service.close()
    return settings.data_dir


def test_help_explains_the_commands():
    out = run_cli("--help").stdout
    assert "Model Context Protocol" in out
    for command in ("serve", "stats", "consolidate"):
        assert command in out


def test_stats_table_and_json(filled):
    table = run_cli("stats", "--data-dir", str(filled))
    assert table.returncode == 0, table.stderr
    assert "total memories" in table.stdout and "ann: 2" in table.stdout
    as_json = json.loads(run_cli("stats", "--data-dir", str(filled), "--json").stdout)
    assert as_json["total_memories"] == 3 and as_json["by_user"] == {"ann": 2, "ben": 1}


def test_consolidate_dry_run_then_real(filled):
    dry = run_cli("consolidate", "--dry-run", "--data-dir", str(filled))
    assert dry.returncode == 0 and "Would merge 1" in dry.stdout
    assert (
        json.loads(run_cli("stats", "--data-dir", str(filled), "--json").stdout)["total_memories"]
        == 3
    )
    real = run_cli("consolidate", "--data-dir", str(filled))
    assert "Merged 1" in real.stdout
    assert (
        json.loads(run_cli("stats", "--data-dir", str(filled), "--json").stdout)["total_memories"]
        == 2
    )


def test_bad_config_is_reported_not_raised(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[ranking]\nrecency_weight = 'lots'\n")
    result = run_cli("stats", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1
    assert "ranking.recency_weight" in result.stderr and "Traceback" not in result.stderr

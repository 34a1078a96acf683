"""The operations commands as a user runs them: `mcp-memory ...` in subprocesses, on real files."""

from __future__ import annotations

import json
import subprocess

from mcp_memory.factory import build_service
from tests.integration.conftest import server_command, server_env

FACTS = [
    "Noor keeps the router password in the blue notebook",
    "Noor's cat Miso needs thyroid pills every morning",
    "Noor is training for the Lisbon half marathon in March",
]


def run(data_dir, xdg, *args: str) -> subprocess.CompletedProcess:
    env = server_env(data_dir)
    env["XDG_CONFIG_HOME"] = str(xdg)
    return subprocess.run(
        [*server_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_config_reindex_doctor_and_stats_from_the_command_line(tmp_path, embedder, settings):
    service = build_service(settings, embedder=embedder)
    for text in FACTS:
        service.add(text, user_id="noor")
    service.close()
    data, xdg = str(settings.data_dir), tmp_path / "xdg"

    init = run(data, xdg, "config", "init")
    config_file = xdg / "mcp-memory" / "config.toml"
    assert init.returncode == 0 and config_file.is_file(), init.stderr
    again = run(data, xdg, "config", "init")
    assert again.returncode == 1 and "--force" in again.stderr
    named = run(data, xdg, "--config", str(tmp_path / "named.toml"), "config", "init")
    assert named.returncode == 0 and (tmp_path / "named.toml").is_file(), named.stderr

    switched = run(data, xdg, "--log-level", "INFO", "reindex", "--model", "all-MiniLM-L6-v2")
    assert switched.returncode == 0, switched.stderr
    assert f"Reindexed {len(FACTS)} memories with all-MiniLM-L6-v2" in switched.stdout
    assert "[embedding] model = 'all-MiniLM-L6-v2'" in switched.stdout
    assert "INFO" in switched.stderr and "INFO" not in switched.stdout, "logs go to stderr"

    broken = run(data, xdg, "doctor", "--json")
    assert broken.returncode == 1, broken.stderr
    report = json.loads(broken.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is False and checks["vector index"]["status"] == "fail"
    assert "mcp-memory reindex" in checks["vector index"]["fix"]
    assert str(config_file) in checks["config file"]["detail"]

    back = run(data, xdg, "reindex")
    assert back.returncode == 0 and f"Reindexed {len(FACTS)} memories" in back.stdout

    healthy = run(data, xdg, "doctor")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "All good." in healthy.stdout
    assert f"{len(FACTS)} memories, {len(FACTS)} vectors" in healthy.stdout

    stats = run(data, xdg, "--log-level", "DEBUG", "stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total_memories"] == len(FACTS)

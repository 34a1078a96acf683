"""Bulk writes redact secrets as ``add_memory`` does: ``add_many`` items, and import records
(content, metadata and each history event's copy of them); nothing secret reaches the disk."""

from __future__ import annotations

import json
from pathlib import Path

from tests.transfer.test_bulk import _cli

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_9fK2mQ7xR4tV8wZ1bN6cY3hJ5pL0sD2gA4eU"
PASSPHRASE = "correct horse battery staple"


def _all_text(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())


def test_add_many_redacts_each_item_and_reports_the_kinds(service, settings):
    results = service.add_many(
        [
            {"content": f"The CI token is {GITHUB}", "user_id": "ops"},
            {"content": "Deploys run on Fridays", "metadata": {"password": PASSPHRASE}},
            {"content": "Nothing secret here", "user_id": "ops"},
        ]
    )
    assert [r.redacted for r in results] == [["github_token"], ["password"], []]
    assert "[REDACTED:github_token]" in results[0].memory.content
    service.close()
    stored = _all_text(settings.data_dir)
    for secret in (GITHUB, PASSPHRASE):
        assert secret.encode() not in stored, f"{secret} reached the disk"


def test_an_import_file_never_stores_its_secrets(tmp_path):
    at = "2025-01-02T03:04:05Z"
    records = [
        {
            "id": "m1",
            "content": f"aws_secret_access_key = {AWS_SECRET}",
            "user_id": "ops",
            "metadata": {"note": f"token {GITHUB}"},
            "history": [
                {"event": "ADD", "at": at, "content": f"Password: {PASSPHRASE}"},
                {"event": "UPDATE", "at": at, "content": "rotated", "metadata": {"key": GITHUB}},
            ],
        },
        {"content": f"The CI token is {GITHUB}", "user_id": "ops"},
        {"content": "Deploys run on Fridays", "user_id": "ops"},
    ]
    source, data = tmp_path / "in.jsonl", tmp_path / "data"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = _cli("import", str(source), env_dir=data)
    assert out.returncode == 0, out.stderr
    assert "Imported 3 memories" in out.stderr
    assert "aws_secret_key in 1, github_token in 2, password in 1" in out.stderr, out.stderr
    stored = _all_text(data)
    for secret in (AWS_SECRET, GITHUB, PASSPHRASE):
        assert secret.encode() not in stored, f"{secret} reached the disk"
    exported = _cli("export", "-", env_dir=data).stdout
    assert "[REDACTED:" in exported and "Deploys run on Fridays" in exported

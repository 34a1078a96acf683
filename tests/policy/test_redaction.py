"""Secrets are redacted before they are stored: never in the ledger, the indexes or search results."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mcp.client import Client

from mcp_memory.config import RedactionSettings, load_settings
from mcp_memory.factory import build_service
from mcp_memory.mcp.app import create_server
from mcp_memory.policy import redaction

# Real-looking secrets (random, not live), each with the kind it must be reported as.
SECRETS = [
    ("AKIAQ7XK2M4P9R3T6V8W", "aws_access_key"),
    ("ghp_9fK2mQ7xR4tV8wZ1bN6cY3hJ5pL0sD2gA4eU", "github_token"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF", "github_token"),
    ("glpat-Xy7Qm2Rk9Vt4Wb8Nc3Jd", "gitlab_token"),
    ("xoxb-2048-1234567890-Z8y7X6w5V4u3T2s1", "slack_token"),
    ("sk_live_51HxQ2eKz8Lm4Np7Rs9Tv3Wy", "stripe_key"),
    ("AIzaSyD4x8Qm2Rk9Vt4Wb8Nc3Jd7Hf1Gp5Ls0Ee", "google_api_key"),
    ("sk-proj-Q2eKz8Lm4Np7Rs9Tv3Wy5Ab1Cd6Ef0Gh", "api_key"),
    ("sk-ant-api03-Z8y7X6w5V4u3T2s1R0q9P8o7N6m5", "api_key"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.Qm2Rk9Vt4Wb8Nc3Jd7Hf1Gp5",
        "jwt",
    ),
]
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACBz5K3eXq0qvJ1nBv9Y6n8c2lQ3w0Zt5m7x1y9H2a4bJwAAAJgAAAAAAAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
PHRASES = [
    ("my password is Tr0ub4dor&3x", "Tr0ub4dor&3x", "password"),
    ("db password: 'correct-horse-battery'", "correct-horse-battery", "password"),
    ("API_KEY=9b1c7e55d2f04a0c8e3b", "9b1c7e55d2f04a0c8e3b", "password"),
    ("the wifi passphrase is lemon-tree-42", "lemon-tree-42", "password"),
    ("Authorization: Bearer abcdef0123456789ABCDEF", "abcdef0123456789ABCDEF", "bearer_token"),
    ("postgres://app:s3cr3tPassw0rd@db.internal:5432/main", "s3cr3tPassw0rd", "url_credentials"),
]


def rules():
    return redaction.compile_rules()


@pytest.mark.parametrize(("secret", "kind"), SECRETS)
def test_each_provider_key_is_replaced_by_its_kind(secret, kind):
    text, kinds = redaction.redact(f"the deploy key is here {secret} keep it safe", rules())
    assert secret not in text and f"[REDACTED:{kind}]" in text
    assert kind in kinds


@pytest.mark.parametrize(("phrase", "secret", "kind"), PHRASES)
def test_assignments_keep_their_words_and_lose_the_value(phrase, secret, kind):
    text, kinds = redaction.redact(phrase, rules())
    assert secret not in text and kinds == [kind]
    assert text.startswith(phrase[: phrase.index(secret)].rstrip("'"))


def test_a_private_key_block_goes_whole():
    text, kinds = redaction.redact(f"deploy key:\n{PRIVATE_KEY}\nthanks", rules())
    assert "b3BlbnNzaC1rZXkt" not in text and "PRIVATE KEY" not in text
    assert "private_key" in kinds and text.endswith("thanks")


def test_ordinary_text_is_left_alone():
    for text in [
        "Dana's password manager is 1Password",
        "The token ring network was replaced in 1998",
        "Remember to rotate the API key every 90 days",
        "Her GitHub handle is ghp and she likes sk-8 boards",
    ]:
        assert redaction.redact(text, rules()) == (text, [])


def test_settings_add_patterns_and_switch_kinds_off():
    custom = redaction.compile_rules({"employee_id": r"\bEMP-\d{6}\b"}, disabled=["password"])
    text, kinds = redaction.redact("EMP-123456 password: hunter2x", custom)
    assert text == "[REDACTED:employee_id] password: hunter2x" and kinds == ["employee_id"]
    with pytest.raises(Exception, match="not a valid regex"):
        RedactionSettings(patterns={"bad": "("})


def _all_text(data_dir: Path) -> bytes:
    """Every byte of every file in the data dir (ledger, WAL, keyword index, Chroma)."""
    return b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())


@pytest.mark.anyio
async def test_secrets_never_reach_the_stores_or_search(service, settings):
    samples = [(f"the staging credential is {s}", s) for s, _ in SECRETS]
    samples += [(phrase, secret) for phrase, secret, _ in PHRASES]
    secrets = [secret for _, secret in samples]
    async with Client(create_server(service)) as client:
        ids = []
        for i, (text, secret) in enumerate(samples):
            added = await client.call_tool(
                "add_memory",
                {
                    "content": f"Note {i}: {text}",
                    "user_id": "ops",
                    "metadata": {"source": text, "tags": [f"api_key={secret}"]},
                },
            )
            assert not added.is_error, added.content
            assert added.structured_content["redacted"], secret
            assert "redacted" in added.content[0].text
            ids.append(added.structured_content["id"])
        updated = await client.call_tool(
            "update_memory", {"id": ids[0], "content": f"rotated to {PRIVATE_KEY}"}
        )
        assert updated.structured_content["redacted"] == ["private_key"]
        found = await client.call_tool(
            "search_memory", {"query": "staging credential", "user_id": "ops", "limit": 100}
        )
        history = await client.call_tool("memory_history", {"id": ids[0]})
    replies = str(found.structured_content) + str(history.structured_content)
    assert len(found.structured_content["results"]) == len(secrets)
    service.close()
    stored = _all_text(settings.data_dir)
    with sqlite3.connect(settings.data_dir / "ledger.sqlite3") as conn:
        fts_hits = conn.execute(
            "SELECT COUNT(*) FROM memories_fts WHERE memories_fts MATCH 'REDACTED'"
        ).fetchone()[0]
    assert fts_hits == len(secrets)
    for secret in [*secrets, "b3BlbnNzaC1rZXkt"]:
        assert secret not in replies
        assert secret.encode() not in stored, f"{secret} reached the disk"


def test_redaction_can_be_switched_off(tmp_path, embedder):
    settings = load_settings(data_dir=tmp_path / "d", redaction={"enabled": False})
    service = build_service(settings, embedder=embedder)
    try:
        added = service.add("my password is hunter2-plain")
        assert added.memory.content == "my password is hunter2-plain" and added.redacted == []
    finally:
        service.close()


@pytest.fixture
def anyio_backend():
    return "asyncio"

"""Secrets are redacted before they are stored: never in the ledger, the indexes or search results."""

from __future__ import annotations

import sqlite3
import time
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


# Issue 20, item 6: forms that were stored verbatim, and their near variants. Each: the text,
# the parts of it that must go, and the kind reported.
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WEBHOOK_PATH = "T0A1B2C3D/B0A1B2C3D/Xq7Rk2Vt9Wb4Nc8Jd3Hf1Gp5"
PASSPHRASE = "correct horse battery staple"
GAPS = [
    # AWS secret access key: by its name in every config syntax, or next to its key id
    (f"aws_secret_access_key = {AWS_SECRET}", [AWS_SECRET], "aws_secret_key"),
    (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", [AWS_SECRET], "aws_secret_key"),
    (f"AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'", [AWS_SECRET], "aws_secret_key"),
    (f'aws_secret_access_key: "{AWS_SECRET}"', [AWS_SECRET], "aws_secret_key"),
    (f'{{"aws_secret_access_key": "{AWS_SECRET}", "region": "eu-west-1"}}', [AWS_SECRET],
     "aws_secret_key"),
    (f"awsSecretAccessKey: {AWS_SECRET}", [AWS_SECRET], "aws_secret_key"),
    (f"AKIAQ7XK2M4P9R3T6V8W,{AWS_SECRET}", [AWS_SECRET], "aws_secret_key"),
    (f"key id AKIAQ7XK2M4P9R3T6V8W secret {AWS_SECRET}", [AWS_SECRET], "aws_secret_key"),
    (f'"SecretAccessKey": "{AWS_SECRET}",', [AWS_SECRET], "password"),
    # a secret-ish word ending an identifier
    ("secret_key: Zm9vYmFyYmF6cXV4", ["Zm9vYmFyYmF6cXV4"], "password"),
    ("DB_PASSWORD=hunter2-db", ["hunter2-db"], "password"),
    ("SMTP_PASS=hunter2-mail", ["hunter2-mail"], "password"),
    ("django_secret_key: Zm9vYmFyYmF6cXV4", ["Zm9vYmFyYmF6cXV4"], "password"),
    ("oauthClientSecret=Zm9vYmFyYmF6cXV4", ["Zm9vYmFyYmF6cXV4"], "password"),
    ("gh auth login --token gho-notreal-12345", ["gho-notreal-12345"], "password"),
    # a passphrase: every word of it, to the end of the line or clause, quoted or not
    (f"Password :  {PASSPHRASE}", ["correct", "horse battery staple"], "password"),
    (f"PASSPHRASE = {PASSPHRASE}   ", ["correct", "horse battery staple"], "password"),
    (f"passphrase: {PASSPHRASE}\nnext line", ["correct", "horse battery staple"], "password"),
    (f'dbPassword: "{PASSPHRASE}"', ["correct", "horse battery staple"], "password"),
    (f"**Password:** {PASSPHRASE}", ["correct", "horse battery staple"], "password"),
    (f"my password is {PASSPHRASE}.", ["correct", "horse battery staple"], "password"),
    (f"the password for the staging db is {PASSPHRASE}", ["horse battery"], "password"),
    ("my password is: hunter2!", ["hunter2"], "password"),
    ("the wifi password was changed to lemon-tree-43", ["lemon-tree-43"], "password"),
    # payment cards: Luhn-valid, bare or grouped with spaces or dashes
    ("card 4111 1111 1111 1111 exp 12/27", ["4111 1111 1111 1111"], "payment_card"),
    ("card 4111-1111-1111-1111", ["4111-1111-1111-1111"], "payment_card"),
    ("card 4111111111111111", ["4111111111111111"], "payment_card"),
    ("visa 4012888888881881 cvc 123", ["4012888888881881"], "payment_card"),
    ("mastercard 5555 5555 5555 4444", ["5555 5555 5555 4444"], "payment_card"),
    ("amex 3782 822463 10005", ["3782 822463 10005"], "payment_card"),
    ("amex 378282246310005", ["378282246310005"], "payment_card"),
    # Slack webhooks: plain, without scheme, JSON-escaped, URL-encoded, workflow
    (f"https://hooks.slack.com/services/{WEBHOOK_PATH}", [WEBHOOK_PATH], "slack_webhook"),
    (f"post to hooks.slack.com/services/{WEBHOOK_PATH} daily", [WEBHOOK_PATH], "slack_webhook"),
    ('{"url": "https:\\/\\/hooks.slack.com\\/services\\/T0A1B2C3D\\/B0A1B2C3D\\/Xq7Rk2Vt9Wb"}',
     ["Xq7Rk2Vt9Wb"], "slack_webhook"),
    ("cb=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0A1B2C3D%2FB0A1B2C3D%2FXq7Rk2Vt9Wb",
     ["Xq7Rk2Vt9Wb"], "slack_webhook"),
    ("https://hooks.slack.com/workflows/T0A1B2C3D/A0A1B2C3D/12345/Xq7Rk2Vt9Wb", ["Xq7Rk2Vt9Wb"],
     "slack_webhook"),
    ("xapp-1-A0123456789-1234567890123-abcdef0123456789", ["abcdef0123456789"], "slack_token"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "parts", "kind"), GAPS, ids=[g[0][:40] for g in GAPS])
def test_issue_20_gaps_and_their_variants_are_redacted(text, parts, kind):
    clean, kinds = redaction.redact(text, rules())
    for part in parts:
        assert part not in clean, clean
    assert kind in kinds and f"[REDACTED:{kind}]" in clean


# Exactly what is left: the words and fields around a secret stay, and a secret already
# redacted by a more precise rule is not redacted again under the generic one.
AROUND = [
    ("user=bob password=hunter22 host=db1 dbname=app",
     "user=bob password=[REDACTED:password] host=db1 dbname=app"),
    ("Server=db;User Id=sa;Password=p@ss w0rd;Encrypt=true",
     "Server=db;User Id=sa;Password=[REDACTED:password];Encrypt=true"),
    ('{"user": "bob", "password": "p@ss w0rd", "port": 5432}',
     '{"user": "bob", "password": "[REDACTED:password]", "port": 5432}'),
    ('{"pin_code": 48213, "user": "bob"}', '{"pin_code": [REDACTED:password], "user": "bob"}'),
    ("https://x.example/cb?token=abcDEF123456&user=bob",
     "https://x.example/cb?token=[REDACTED:password]&user=bob"),
    ("mysql --password=hunter22 --host db1 && echo ok",
     "mysql --password=[REDACTED:password] --host db1 && echo ok"),
    ("passphrase: correct horse battery staple\nuser: bob",
     "passphrase: [REDACTED:password]\nuser: bob"),
    ("my password is tr0ub4dor, don't share it",
     "my password is [REDACTED:password], don't share it"),
    ("Password: hunter22. Call Bob on Monday", "Password: [REDACTED:password]. Call Bob on Monday"),
    ("token: ghp_9fK2mQ7xR4tV8wZ1bN6cY3hJ5pL0sD2gA4eU for the CI bot",
     "token: [REDACTED:github_token] for the CI bot"),
    (f"aws_secret_access_key = {AWS_SECRET}\nregion = us-east-1",
     "aws_secret_access_key = [REDACTED:aws_secret_key]\nregion = us-east-1"),
    ("Visa 4111 1111 1111 1111, expires 12/27",
     "Visa [REDACTED:payment_card], expires 12/27"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), AROUND, ids=[a[0][:40] for a in AROUND])
def test_only_the_secret_goes(text, expected):
    clean, kinds = redaction.redact(text, rules())
    assert clean == expected and len(kinds) == 1


# Normal memories that look a little like secrets: nothing may change.
KEPT = [
    # numbers that are not card numbers
    "order 4111111111111112 shipped",  # 16 digits, Luhn check fails
    "invoice 1234 5678 9012 3456 is paid",  # Luhn fails
    "epoch 1700000000000 ms, 1700000000000000000 ns",  # no card starts with 1
    "IMEI 490154203237518",  # Luhn-valid, but 15 digits starting with 4 is no card
    "IBAN FR76 3000 6000 0112 3456 7890 189",  # groups inside a longer run
    "price 4111111111111111.50",  # a decimal number
    "tracking 9400111899223397658538",  # 22 digits
    "call +1 415 555 0132, +44 20 7946 0958 or (415) 555-0132",
    "meeting on 2024-05-01 at 14:30, invoice 2024-000123, ISBN 978-3-16-148410-0",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",  # 40 characters, no key id nearby
    "docs at https://hooks.slack.com/services/ explain webhooks",
    # secret-ish words that hold no secret
    "1Password: the manager the team uses",
    "LastPass: we moved away from it",
    "boarding_pass: seat 12A",
    "max_tokens=4096 and token_count: 512",
    "The API token is valid for 30 days",
    "The password is stored in Vault under ops/db",
    "The session token was refreshed at 10:00",
    "Note about the token: it expires on Friday",
    "The token is a unit of text, about 4 characters",
    "def login(password: str) -> bool",
    "CI sets DB_PASSWORD=${{ secrets.DB_PASSWORD }} and API_KEY: <your-api-key>",
]


@pytest.mark.parametrize("text", KEPT)
def test_normal_memories_are_not_mangled(text):
    assert redaction.redact(text, rules()) == (text, [])


def test_card_numbers_need_a_card_prefix_and_the_luhn_check():
    assert redaction.is_card_number("4111 1111 1111 1111")
    assert redaction.is_card_number("3782-822463-10005")
    assert not redaction.is_card_number("4111 1111 1111 1112")  # check digit wrong
    assert not redaction.is_card_number("1111 1111 1111 1117")  # Luhn-valid, no card network
    assert not redaction.is_card_number("411111111111")  # too short


def test_a_metadata_key_that_names_a_secret_hides_its_value():
    metadata = {
        "aws_secret_access_key": AWS_SECRET,
        "db": {"password": "hunter2", "port": 5432, "host": "db1"},
        "pin_code": 4821,
        "credentials": ["admin", "Sup3rS3cret"],
        "api_key": "sk-proj-Q2eKz8Lm4Np7Rs9Tv3Wy5Ab1Cd6Ef0Gh",
        "token_count": 512,
        "boarding_pass": "12A",
        "note": "",
    }
    clean, kinds = redaction.redact_value(metadata, rules())
    assert clean == {
        "aws_secret_access_key": "[REDACTED:password]",
        "db": {"password": "[REDACTED:password]", "port": 5432, "host": "db1"},
        "pin_code": "[REDACTED:password]",
        "credentials": ["[REDACTED:password]", "[REDACTED:password]"],
        "api_key": "[REDACTED:api_key]",
        "token_count": 512,
        "boarding_pass": "12A",
        "note": "",
    }
    assert kinds == ["api_key", "password"]
    off = redaction.compile_rules(disabled=["password"])
    assert redaction.redact_value({"password": "hunter2"}, off) == ({"password": "hunter2"}, [])


@pytest.mark.parametrize(
    "text",
    [
        "a-" * 50_000,  # a scheme-like run with no "://" (was quadratic)
        "a_" * 50_000,
        "password: " + "ab " * 33_000,
        "password" + " " * 100_000 + "x",
        "my password is " + "a." * 50_000,
        "4111 " * 20_000,
        ("AKIAQ7XK2M4P9R3T6V8W " + "a" * 39 + " ") * 1_500,
        "hooks.slack.com/services/" + "a/" * 50_000,
    ],
    ids=["dashes", "underscores", "value", "spaces", "prose", "digits", "akia", "webhook"],
)
def test_redaction_time_grows_linearly(text):
    """Redaction runs before the length limits, so a hostile 100 kB must not stall it. A
    deadline, not a speed target: linear patterns take ~0.4 s on these inputs, the quadratic
    one they replaced took ~40 s; only a pattern that backtracks misses 10 s."""
    started = time.perf_counter()
    redaction.redact(text, rules())
    assert time.perf_counter() - started < 10.0


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


@pytest.mark.anyio
async def test_issue_20_forms_never_reach_the_stores_search_or_export(service, settings):
    samples = [
        f"ops credential aws_secret_access_key = {AWS_SECRET}",
        f"ops credential Password :  {PASSPHRASE}",
        "ops credential card 4111 1111 1111 1111 for the team lunch",
        "ops credential card 5555-5555-5555-4444 for travel",
        f"ops credential alerts go to https://hooks.slack.com/services/{WEBHOOK_PATH}",
    ]
    metadata = {"aws_secret_access_key": AWS_SECRET, "card": "4012 8888 8888 1881"}
    async with Client(create_server(service)) as client:
        for text in samples:
            added = await client.call_tool(
                "add_memory", {"content": text, "user_id": "ops", "metadata": metadata}
            )
            assert not added.is_error, added.content
            assert added.structured_content["redacted"], text
        found = await client.call_tool(
            "search_memory", {"query": "ops credential", "user_id": "ops", "limit": 100}
        )
    assert len(found.structured_content["results"]) == len(samples)
    exported = str(list(service.export_records(user_id="ops")))
    service.close()
    stored = _all_text(settings.data_dir)
    secrets = [AWS_SECRET, "horse battery staple", WEBHOOK_PATH, "4012 8888 8888 1881"]
    secrets += ["4111 1111 1111 1111", "5555-5555-5555-4444"]
    for secret in secrets:
        assert secret not in str(found.structured_content) and secret not in exported
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

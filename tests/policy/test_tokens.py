"""The generated bearer token: created once, owner-only from its first byte, reused, never
replaced by a concurrent start, and refused when others may read it."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from mcp_memory.config import load_settings
from mcp_memory.errors import ConfigError
from mcp_memory.policy.tokens import effective_tokens, generated_token, required_tokens


def test_the_token_is_created_owner_only_whatever_the_umask_and_reused(tmp_path):
    path = tmp_path / "config" / "mcp-memory" / "token"
    old = os.umask(0)  # a umask that would leave a plainly created file world-readable
    try:
        secret, created = generated_token(path)
    finally:
        os.umask(old)
    assert created and len(secret) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["token"]  # no temporary file left beside it
    assert generated_token(path) == (secret, False)


def test_concurrent_first_starts_share_one_token(tmp_path):
    path = tmp_path / "token"
    start = threading.Barrier(8)
    seen: list[tuple[str, bool]] = []

    def first_start() -> None:
        start.wait(timeout=30)
        seen.append(generated_token(path))

    threads = [threading.Thread(target=first_start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 8 and len({secret for secret, _ in seen}) == 1
    assert sum(created for _, created in seen) == 1
    assert path.read_text().strip() == seen[0][0]


def test_a_token_file_others_may_read_or_without_a_token_is_refused(tmp_path):
    path = tmp_path / "token"
    generated_token(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"open to other users .*chmod 600"):
        generated_token(path)
    path.write_text("short\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="holds no token"):
        generated_token(path)


def test_the_generated_token_is_used_only_when_none_is_configured(tmp_path):
    path = tmp_path / "token"
    settings = load_settings(data_dir=tmp_path, security={"token_file": str(path)})
    first = required_tokens(settings)
    assert first.created and first.generated == path
    (token,) = effective_tokens(settings)
    assert token.name == "generated" and token.token.get_secret_value() == path.read_text().strip()
    assert not required_tokens(settings).created
    other = tmp_path / "other-token"
    configured = load_settings(
        data_dir=tmp_path, security={"token_file": str(other), "tokens": [{"token": "t" * 20}]}
    )
    assert [t.token.get_secret_value() for t in effective_tokens(configured)] == ["t" * 20]
    assert not other.exists()

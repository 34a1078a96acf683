"""Real servers, real HTTP clients: the token a network server generates and requires, the
``--no-auth`` opt-out (loopback only), what a token bound to one user can learn from stats and
undo, and sessions bound to the token that opened them (SSE and streamable HTTP)."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator

import pytest
from mcp.client import Client
from mcp.client.sse import sse_client

from tests.integration.conftest import (
    ADMIN,
    ALICE,
    CONFIG,
    NetworkServer,
    post_bytes,
    server_command,
    server_env,
    start_network_server,
)
from tests.integration.test_security_and_concurrency import raw_post

pytestmark = pytest.mark.anyio

ADD = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "add_memory", "arguments": {"content": "intruder was here"}},
}

NOTIFICATION = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}


def post(url: str, headers: dict[str, str], body: dict) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one JSON POST."""
    return post_bytes(url, headers, json.dumps(body).encode())


async def test_a_generated_token_is_kept_owner_only_required_and_reused(tmp_path):
    token_file = tmp_path / "config" / "mcp-memory" / "token"
    server = start_network_server("http", tmp_path / "data", token_file=token_file)
    try:
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = server.token
        told = "".join(server.stderr_lines)
        assert f"generated a bearer token for network clients in {token_file}" in told
        assert "claude mcp add --transport http memory" in told and "--header" in told
        assert '"headers": { "Authorization": "Bearer <token>" }' in told
        assert token not in told  # the secret itself is never printed
        assert raw_post(server, {})[0] == 401
        assert raw_post(server, {"Authorization": "Bearer not-the-generated-token"})[0] == 401
        async with server.client() as client:
            added = await client.call_tool("add_memory", {"content": "Keys are on the hook"})
        assert not added.is_error
    finally:
        server.stop()
    again = start_network_server("http", tmp_path / "data", token_file=token_file)
    try:
        assert again.token == token
        assert "generated a bearer token" not in "".join(again.stderr_lines)
        assert raw_post(again, {})[0] == 401
        async with again.client(token) as client:
            listed = await client.call_tool("list_memories", {})
        assert listed.structured_content["total"] == 1
    finally:
        again.stop()


async def test_no_auth_serves_loopback_without_a_token(tmp_path):
    token_file = tmp_path / "token"
    server = start_network_server("http", tmp_path / "data", "--no-auth", token_file=token_file)
    try:
        async with Client(f"{server.base}/mcp") as client:
            names = {t.name for t in (await client.list_tools()).tools}
        assert "add_memory" in names and not token_file.exists()
        assert "without a token (--no-auth)" in "".join(server.stderr_lines)
    finally:
        server.stop()


def test_no_auth_off_loopback_is_refused_before_anything_starts(tmp_path):
    command = [*server_command(), "serve", "--transport", "sse", "--host", "0.0.0.0"]
    done = subprocess.run(
        [*command, "--port", "0", "--no-auth"],
        env=server_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("mcp-memory: --no-auth is refused on 0.0.0.0")
    assert not (tmp_path / "data").exists()


@pytest.fixture(scope="module")
def secure_sse(tmp_path_factory) -> Iterator[NetworkServer]:
    root = tmp_path_factory.mktemp("secure-sse")
    config = root / "config.toml"
    config.write_text(CONFIG)
    server = start_network_server("sse", root / "data", "--config", str(config))
    yield server
    server.stop()


async def test_a_token_bound_to_alice_learns_nothing_of_bob_from_stats_or_undo(secure_sse):
    async with secure_sse.client(ADMIN) as admin, secure_sse.client(ALICE) as alice:
        for fact in (
            "Bob's locker code is 401",
            "Bob drives a green van",
            "Bob's dentist is on Elm",
        ):
            await admin.call_tool("add_memory", {"content": fact, "user_id": "bob"})
        bob_run = (await admin.call_tool("consolidate", {"user_id": "bob"})).structured_content
        global_run = (await admin.call_tool("consolidate", {})).structured_content
        await alice.call_tool("add_memory", {"content": "Alice parks on level two"})
        mine = (await alice.call_tool("stats", {})).structured_content
        assert mine["total_memories"] == 1 and mine["vectors_indexed"] == 1
        assert mine["storage_bytes"] is None and mine["last_consolidation"] is None
        assert mine["by_user"] == {"alice": 1}
        for run in (bob_run, global_run):
            refused = await alice.call_tool("consolidate", {"undo": run["run_id"]})
            text = refused.content[0].text
            assert refused.is_error and f"no consolidation run '{run['run_id']}'" in text
            assert "bob" not in text
        whole = (await admin.call_tool("stats", {})).structured_content
    assert whole["vectors_indexed"] == whole["total_memories"] == 4 and whole["storage_bytes"] > 0
    assert whole["last_consolidation"]["run_id"] == global_run["run_id"]


async def test_a_session_answers_only_the_token_that_opened_it(secure_sse, secure_server):
    opened: list[str] = []
    stream = sse_client(
        f"{secure_sse.base}/sse",
        headers={"Authorization": f"Bearer {ADMIN}"},
        on_session_created=opened.append,
    )
    async with Client(stream) as admin:
        (session,) = opened
        url = f"{secure_sse.base}/messages/?session_id={session}"
        status, _, _ = post(url, {"Authorization": f"Bearer {ALICE}"}, ADD)
        assert status == 404  # as if the session did not exist
        assert post(url, {"Authorization": f"Bearer {ADMIN}"}, NOTIFICATION)[0] == 202  # its own
        listed = await admin.call_tool("list_memories", {"limit": 100})
    contents = [m["content"] for m in listed.structured_content["memories"]]
    assert "intruder was here" not in contents

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    status, headers, _ = post(f"{secure_server.base}/mcp", {"Authorization": f"Bearer {ADMIN}"},
                              initialize)  # fmt: skip
    assert status == 200
    other = {"Authorization": f"Bearer {ALICE}", "mcp-session-id": headers["mcp-session-id"]}
    assert post(f"{secure_server.base}/mcp", other, ADD)[0] == 404

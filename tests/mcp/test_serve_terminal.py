"""`mcp-memory serve` typed in a terminal says what it is, instead of sitting silent; started by
a client (stdin a pipe) it prints nothing of the kind."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

NOTE = "speaks MCP over stdio: it is meant to be started by an MCP client"


def _serve(tmp_path, stdin) -> subprocess.Popen:
    env = {**os.environ, "MCP_MEMORY_DATA_DIR": str(tmp_path / "data")}
    return subprocess.Popen(
        [sys.executable, "-m", "mcp_memory", "serve"],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip


def _stderr_until(proc: subprocess.Popen, text: str, deadline_s: float) -> str:
    """What the process writes to stderr until ``text`` appears, it exits, or the deadline."""
    seen, end = b"", time.monotonic() + deadline_s
    fd = proc.stderr.fileno()
    while text.encode() not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


def test_serve_on_a_terminal_says_it_waits_for_a_client(tmp_path):
    leader, follower = pty.openpty()
    with _serve(tmp_path, follower) as proc:
        os.close(follower)
        try:
            said = _stderr_until(proc, NOTE, deadline_s=120)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            os.close(leader)
    assert NOTE in said, said
    assert said.count(NOTE) == 1 and "Traceback" not in said


def test_serve_started_by_a_client_prints_no_note(tmp_path):
    with _serve(tmp_path, subprocess.PIPE) as proc:
        proc.stdin.close()  # the client went away at once: the server ends
        said = proc.stderr.read().decode(errors="replace")
        proc.wait(timeout=120)
    assert NOTE not in said

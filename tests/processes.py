"""Subprocess helpers shared by the tests that run the real command line and real servers."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m mcp_memory ARGS` as a user would run it, output captured, nothing on its
    standard input, with these environment variables added to this process's."""
    return subprocess.run(
        [sys.executable, "-m", "mcp_memory", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server process, killing it if it does not exit in time."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

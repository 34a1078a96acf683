"""A real Chroma server (`chroma run`, from the chromadb package) on a free loopback port.

Readiness is its heartbeat endpoint answering, polled in a bounded loop with a deadline.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.processes import stop_process

STARTUP_DEADLINE_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chroma_command() -> list[str]:
    """The `chroma` script of this environment."""
    script = Path(sys.executable).with_name("chroma")
    found = str(script) if script.exists() else shutil.which("chroma")
    if not found:
        raise RuntimeError("the `chroma` CLI (from the chromadb package) is not installed")
    return [found]


@dataclass
class ChromaServer:
    process: subprocess.Popen
    host: str
    port: int
    log: Path

    def heartbeat(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://{self.host}:{self.port}/api/v2/heartbeat", timeout=2
            ) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        stop_process(self.process)


def start_chroma(path: Path) -> ChromaServer:
    """Start `chroma run` on a free port and return once its heartbeat answers."""
    port = _free_port()
    log = path / "chroma-server.log"
    path.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *chroma_command(),
                "run",
                "--path",
                str(path / "db"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = ChromaServer(process, "127.0.0.1", port, log)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not server.heartbeat():
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"chroma run did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)  # poll interval of the bounded readiness loop, not a synchronisation
    return server

"""`mcp-memory ui` beside a running stdio server on the same data directory: the one-time
link signs a real Chromium in (once), memories added by the stdio server show on the page,
and an edit made on the page is what the stdio server reads next."""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from playwright.sync_api import expect

from tests.integration.browser import chromium, portal
from tests.integration.conftest import STARTUP_DEADLINE_S, server_command, server_env
from tests.processes import run_cli, stop_process


@dataclass
class Ui:
    process: subprocess.Popen
    link: str
    stderr: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.link.split("/ui/")[0]


@contextmanager
def ui_server(data_dir: Path) -> Iterator[Ui]:
    """`mcp-memory ui --port 0`, once it has printed its sign-in link."""
    process = subprocess.Popen(
        [*server_command(), "ui", "--port", "0"],
        env=server_env(data_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    stderr: list[str] = []

    def pump(stream, sink) -> None:
        for line in stream:
            sink(line)
        lines.put(None)

    threading.Thread(target=pump, args=(process.stdout, lines.put), daemon=True).start()
    threading.Thread(target=pump, args=(process.stderr, stderr.append), daemon=True).start()
    try:
        link = None
        while link is None:
            line = lines.get(timeout=STARTUP_DEADLINE_S)
            assert line is not None, "mcp-memory ui exited:\n" + "".join(stderr)
            found = re.search(r"(http://127\.0\.0\.1:\d+/ui/signin#code=\S+)", line)
            link = found.group(1) if found else None
        yield Ui(process, link, stderr)
    finally:
        stop_process(process)
        process.stdout.close()
        process.stderr.close()


def test_the_ui_command_beside_a_stdio_server(tmp_path):
    data = tmp_path / "data"
    command, *args = server_command()
    params = StdioServerParameters(command=command, args=[*args, "serve"], env=server_env(data))
    with portal() as loop, loop.wrap_async_context_manager(Client(params)) as stdio:

        def call(tool: str, **arguments):
            reply = loop.call(stdio.call_tool, tool, arguments)
            assert not reply.is_error, reply
            return reply.structured_content

        tomatoes = call("add_memory", content="Fay grows tomatoes on her balcony", user_id="fay")
        with ui_server(data) as ui, chromium() as browser:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(ui.link)
            expect(page).to_have_url(f"{ui.base}/ui/")
            expect(page.locator("ol.memories")).to_contain_text("tomatoes")
            expect(page.locator(".who")).to_have_text("the local user (one-time link)")

            call("add_memory", content="Fay's balcony faces south", user_id="fay")
            page.reload()
            expect(page.locator("ol.memories li")).to_have_count(2)

            page.locator("a.text", has_text="tomatoes").click()
            page.get_by_label("Text").fill("Fay grows tomatoes and basil on her balcony")
            page.get_by_role("button", name="Save").click()
            expect(page.locator(".note")).to_contain_text("Saved: version 2")
            seen = call("get_memory", id=tomatoes["id"])["memory"]
            assert seen["content"] == "Fay grows tomatoes and basil on her balcony"
            found = call("search_memory", query="which herbs does Fay grow", user_id="fay")
            assert found["results"][0]["id"] == tomatoes["id"]

            again = browser.new_context().new_page()
            again.goto(ui.link)  # the code is spent: the sign-in form says so
            expect(again.locator(".note.error")).to_contain_text("nor a live one-time code")
            assert ui.link.split("#")[1] not in "".join(ui.stderr)  # never in a log line


def test_the_ui_command_says_when_its_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--data-dir", str(tmp_path), "ui", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mcp-memory: cannot listen on 127.0.0.1:{port}: the port is taken (is `mcp-memory ui` "
        "already running?); choose another with --port, or --port 0 for any free one"
    ]

"""Crash consistency and several processes on one store, with real processes and SIGKILL.

Writers are forked from ``crash_worker.py`` (which loaded the model once), killed with SIGKILL
at random points, and the store is then reopened here as a restarted server would: every
acknowledged write must be there, nothing deleted may come back, ledger and index must agree.
The waits are on the worker's output lines (with a deadline), never on sleeps.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mcp_memory.config import Settings, load_settings
from mcp_memory.factory import build_service
from mcp_memory.store.records import MemoryFilter

WORKER = Path(__file__).parent / "crash_worker.py"
DEADLINE_S = 120
ROUNDS = 30
# The vector engines the kill test runs on (the worker's children get the same settings).
VECTOR = {"chroma": {}, "qdrant": {"backend": "qdrant"}}


@pytest.fixture(params=sorted(VECTOR))
def vector(request) -> dict:
    return VECTOR[request.param]


@pytest.fixture
def settings(tmp_path: Path, vector: dict) -> Settings:
    return load_settings(data_dir=tmp_path / "data", vector=vector)


@dataclass
class Worker:
    """The fork server, and the lines its children write."""

    process: subprocess.Popen
    lines: queue.Queue = field(default_factory=queue.Queue)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=DEADLINE_S)
        except queue.Empty:
            raise AssertionError("the crash worker went silent") from None
        assert line is not None, "the crash worker exited"
        assert not line.startswith("error"), line
        return line

    def send(self, command: dict) -> int:
        """Start a child; returns its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        first = self.next_line()
        assert first.startswith("pid "), first
        return int(first.split()[1])

    def wait_exit(self, pid: int) -> list[str]:
        """The lines until the child with this pid has been reaped."""
        seen = []
        while not (line := self.next_line()).startswith(f"exit {pid} "):
            seen.append(line)
        return seen


@pytest.fixture(scope="module")
def worker(tmp_path_factory, model_cache) -> Iterator[Worker]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_MEMORY_")}
    env.update(
        MCP_MEMORY_EMBEDDING__CACHE_DIR=str(model_cache),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        XDG_CONFIG_HOME=str(tmp_path_factory.mktemp("worker-config")),
    )
    process = subprocess.Popen(
        [sys.executable, str(WORKER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    w = Worker(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            w.lines.put(line.rstrip("\n"))
        w.lines.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    assert w.next_line() == "ready"
    yield w
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=DEADLINE_S)
    thread.join(timeout=DEADLINE_S)
    assert process.stdout is not None
    process.stdout.close()


def _parse(line: str) -> tuple[str, str, dict]:
    phase, op, payload = line.split(" ", 2)
    return phase, op, json.loads(payload)


def test_sigkill_at_random_points_loses_no_acknowledged_write(worker, settings, vector, embedder):
    rng = random.Random(20260115)
    expected: dict[str, str] = {}  # id -> content, as acknowledged
    deleted: set[str] = set()
    for round_no in range(ROUNDS):
        pid = worker.send(
            {
                "run": "churn",
                "data_dir": str(settings.data_dir),
                "vector": vector,
                "seed": 1000 + round_no,
            }
        )
        lines = [worker.next_line() for _ in range(rng.randint(1, 25))]
        os.kill(pid, signal.SIGKILL)
        lines += worker.wait_exit(pid)  # what the child acknowledged before the kill landed
        in_flight: tuple[str, dict] | None = None
        for line in lines:
            phase, op, payload = _parse(line)
            if phase == "B":
                in_flight = (op, payload)
                continue
            in_flight = None
            if op in ("add", "update"):
                expected[payload["id"]] = payload["content"]
            elif op == "delete":
                expected.pop(payload["id"], None)
                deleted.add(payload["id"])
            else:
                for keep, absorbed in payload["merged"]:
                    for gone in absorbed:
                        expected.pop(gone, None)
                        deleted.add(gone)
                    expected.pop(keep, None)  # its text may now be the richer duplicate's

        service = build_service(settings, embedder=embedder)
        try:
            service.reconcile()
            _check_after_restart(service, expected, deleted, in_flight, rng)
            now = {m.id: m.content for m in service.ledger.all_memories(MemoryFilter())}
            deleted |= set(expected) - set(now)
            expected = now
        finally:
            service.close()


def _check_after_restart(service, expected, deleted, in_flight, rng) -> None:
    op, payload = in_flight or ("", {})
    for memory_id, content in expected.items():
        memory = service.ledger.get(memory_id)
        if memory is None:
            assert op in ("delete", "consolidate"), f"acknowledged memory {memory_id} lost"
            assert op == "consolidate" or payload["id"] == memory_id
            continue
        if memory.content != content:
            assert op == "consolidate" or (
                op == "update" and payload == {"id": memory_id, "content": memory.content}
            ), (memory_id, content, memory.content)
    for memory_id in deleted:
        assert service.ledger.get(memory_id) is None, f"deleted memory {memory_id} came back"
    report = service.index_report()
    assert report.agrees, report
    stats = service.stats()
    assert stats.index_in_sync and stats.pending_index == 0
    live = list(expected.items())
    for memory_id, content in rng.sample(live, min(2, len(live))):
        if service.ledger.get(memory_id) is not None:
            # include_archived: a consolidation may archive by count; durability is the question
            hits = service.search(content, user_id="kim", limit=5, include_archived=True).results
            assert memory_id in [h.id for h in hits]
    gone = [i for i in deleted if service.ledger.has_history(i)]
    for memory_id in rng.sample(gone, min(2, len(gone))):
        text = service.ledger.history(memory_id)[-1].content
        hits = service.search(text, user_id="kim", limit=10, include_archived=True).results
        assert memory_id not in [h.id for h in hits]


def test_a_write_in_another_process_is_searchable_here_at_once(worker, settings, vector, embedder):
    service = build_service(settings, embedder=embedder)
    try:
        first = service.add("The greenhouse thermostat is set to 18 degrees", user_id="lee")
        assert [h.id for h in service.search("greenhouse temperature", user_id="lee").results] == [
            first.id
        ]
        pid = worker.send(
            {
                "run": "add",
                "data_dir": str(settings.data_dir),
                "vector": vector,
                "content": "Lee's bicycle lock code is kept in the blue notebook",
                "user_id": "lee",
            }
        )
        (ack,) = worker.wait_exit(pid)
        other_id = _parse(ack)[2]["id"]
        reopened = service.index.reopened
        hits = service.search("where is the bicycle lock code written", user_id="lee").results
        assert hits[0].id == other_id
        assert service.index.reopened == reopened + 1
        service.search("greenhouse temperature", user_id="lee")
        assert service.index.reopened == reopened + 1, "a warm search must not reopen the index"
        service.delete(other_id)
        assert other_id not in [h.id for h in service.search("bicycle lock", user_id="lee").results]
    finally:
        service.close()

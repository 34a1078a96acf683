"""The write-behind thread writes a burst of adds' vectors after the burst, not inside it."""

from __future__ import annotations

import threading

import numpy as np

from mcp_memory.errors import StorageFull
from mcp_memory.indexing import write_behind
from mcp_memory.indexing.write_behind import WriteBehind


def _writer(quiet_s: float, max_delay_s: float) -> tuple[WriteBehind, threading.Event, list[int]]:
    applied, held = threading.Event(), []

    def apply() -> int:
        held.append(len(behind.take([f"m{i}" for i in range(10)])[0]))
        applied.set()
        return 0

    behind = WriteBehind(apply, quiet_s, max_delay_s)
    return behind, applied, held


def test_hand_overs_closer_than_the_quiet_time_are_not_written_inside_the_burst():
    behind, applied, held = _writer(quiet_s=60, max_delay_s=60)
    for i in range(3):
        behind.hand_over(f"m{i}", "text", np.zeros(3, dtype=np.float32))
    assert not applied.wait(0.3)  # a writer without the pause wrote within a millisecond
    behind.close()
    assert held == [] and behind.holding()  # left for flush / the outbox


def test_a_pause_lets_the_burst_go_in_one_write():
    behind, applied, held = _writer(quiet_s=0.05, max_delay_s=60)
    for i in range(3):
        behind.hand_over(f"m{i}", "text", np.zeros(3, dtype=np.float32))
    assert applied.wait(10) and held == [3]
    behind.close()


def test_hand_overs_that_never_pause_are_written_after_the_max_delay():
    behind, applied, held = _writer(quiet_s=60, max_delay_s=0.05)
    behind.hand_over("m0", "text", np.zeros(3, dtype=np.float32))
    assert applied.wait(10) and held == [1]
    behind.close()


def test_a_failed_write_is_retried_by_itself_until_it_succeeds(monkeypatch, tmp_path):
    """A full disk fails the write; once there is space, the held vectors are written without
    another hand-over (no call has to come along)."""
    monkeypatch.setattr(write_behind, "RETRY_FIRST_S", 0.01)
    attempts, written = [], threading.Event()

    def apply() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise StorageFull(tmp_path, 0)
        behind.written(["m0"])
        written.set()
        return 1

    behind = WriteBehind(apply, 0.0, 0.0)
    behind.hand_over("m0", "text", np.zeros(3, dtype=np.float32))
    assert written.wait(10) and len(attempts) == 3
    assert not behind.holding()
    behind.close()

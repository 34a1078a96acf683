"""The ledger on a disk that fills up (a real 3 MiB tmpfs): each refused write is a clear
``StorageFull`` that changed nothing, what was stored stays, and once there is space again
writes go on, from this connection and from another process's, without a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mcp_memory.config import ImportanceSettings, LimitSettings, RetentionSettings
from mcp_memory.errors import StorageFull
from mcp_memory.ledger import Ledger
from mcp_memory.models import Memory
from mcp_memory.policy import admission, validation
from mcp_memory.store.disk import Reserve
from mcp_memory.store.records import MemoryFilter
from tests.mounts import resize, small_disk

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _memory(n: int) -> Memory:
    text = f"Entry {n}: " + " ".join(f"word{n}x{i}" for i in range(300))
    return admission.new_memory(
        text, "ola", None, None, "semantic", "general", None, None, None, None,
        now=NOW, limits=LimitSettings(), scores=ImportanceSettings(), tiers=RetentionSettings(),
    )  # fmt: skip


def _add(ledger: Ledger, n: int) -> str:
    memory = _memory(n)
    assert ledger.insert_unless_duplicate(memory, validation.content_hash(memory.content)) is None
    return memory.id


@pytest.mark.parametrize("reserve_mib", [0, 1], ids=["sqlite-full", "under-the-reserve"])
def test_a_full_disk_refuses_writes_keeps_what_was_stored_and_recovers(tmp_path, reserve_mib):
    with small_disk(tmp_path / "disk", 3) as disk:
        path = disk / "ledger.sqlite3"
        reserve = Reserve(disk, reserve_mib * 1_048_576)
        ledger = Ledger(path, reserve=reserve)
        stored: list[str] = []
        with pytest.raises(StorageFull) as raised:
            for n in range(10_000):
                stored.append(_add(ledger, n))
        message = str(raised.value)
        assert message.startswith(f"disk full at {disk}") and "free space" in message
        assert len(stored) >= 5
        assert ledger.count(MemoryFilter()) == len(stored)  # nothing half-written
        with pytest.raises(StorageFull):
            _add(ledger, 10_001)

        resize(disk, 16)
        stored.append(_add(ledger, 20_000))  # no write lock was left held by the failure
        other = Ledger(path, busy_timeout_ms=2000, reserve=reserve)  # another process's view
        stored.append(_add(other, 20_001))
        other.close()
        ledger.close()
        reopened = Ledger(path)
        try:
            assert set(reopened.ids(MemoryFilter())) == set(stored)
        finally:
            reopened.close()

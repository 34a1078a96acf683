"""The real server with its data dir on a small file system (an 8 MiB tmpfs) filled by adds.

Before, 2 runs in 5 hung (Chroma's upsert blocked holding the GIL, once for 15 minutes) and
the others answered a bare "Error executing tool add_memory". Now every call answers within a
deadline: adds with "disk full at <data dir>: ... free space ...", reads with what is stored.
Nothing acknowledged is lost, and when space returns the server carries on by itself: no
restart, and the vector writes that waited are done.
"""

from __future__ import annotations

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.integration.conftest import server_command, server_env
from tests.mounts import fill, resize, small_disk

pytestmark = pytest.mark.anyio

CALL_DEADLINE_S = 20  # far above any healthy call here (milliseconds), far below a hang
PADDING = "The quarterly review covered budgets, hiring plans and the office move. " * 6


async def _call(client: Client, tool: str, **arguments):
    with anyio.fail_after(CALL_DEADLINE_S):
        return await client.call_tool(tool, arguments)


def _text(result) -> str:
    return result.content[0].text


async def test_a_full_disk_gets_a_clear_error_loses_nothing_and_recovers(tmp_path):
    with small_disk(tmp_path / "disk", 8) as disk:
        data_dir = disk / "data"
        env = server_env(data_dir)
        env["MCP_MEMORY_DISK__MIN_FREE_MB"] = "1"  # the default (64) exceeds this disk
        command, *args = server_command()
        params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
        stderr = tmp_path / "stderr.txt"
        with stderr.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                acknowledged = await _fill_with_adds(client, data_dir)
                await _still_answers(client, acknowledged)

                filler = fill(disk / "filler")  # not even the reserve is left now
                refused = await _call(client, "add_memory", content="One more " + PADDING)
                assert refused.is_error and "disk full at" in _text(refused)
                await _still_answers(client, acknowledged)

                filler.unlink()
                resize(disk, 64)  # space comes back
                await _carries_on(client, acknowledged)
        assert "Traceback" not in stderr.read_text()


async def _fill_with_adds(client: Client, data_dir) -> dict[str, str]:
    """Add until the disk refuses; returns the acknowledged memories (id: content)."""
    acknowledged: dict[str, str] = {}
    for n in range(3000):
        content = f"Meeting note {n}, filed under zq{n:05d}x: {PADDING}"
        result = await _call(
            client, "add_memory", content=content, user_id="kai", metadata={"note": n}
        )
        if result.is_error:
            text = _text(result)
            assert f"disk full at {data_dir}" in text and "free space" in text, text
            assert "queued index writes resume by themselves" in text
            break
        acknowledged[result.structured_content["id"]] = content
    else:
        pytest.fail("the disk never filled up")
    assert len(acknowledged) >= 5
    again = await _call(client, "add_memory", content="Still full? " + PADDING, user_id="kai")
    assert again.is_error and f"disk full at {data_dir}" in _text(again)
    return acknowledged


async def _still_answers(client: Client, acknowledged: dict[str, str]) -> None:
    """Reads answer on a full disk: every acknowledged memory, a search, the stats."""
    for memory_id in list(acknowledged)[:3] + list(acknowledged)[-3:]:
        got = await _call(client, "get_memory", id=memory_id)
        assert not got.is_error and got.structured_content["memory"]["id"] == memory_id
    last_id, last = list(acknowledged.items())[-1]
    # The last memory's vector is still queued (the index is not written on a full disk). Its
    # note number narrows the search to it, so what is asserted is that the search answers and
    # ranks a memory the index does not hold, not how its one rare word weighs against the
    # meaning of texts that are nearly all the same (a query of that word alone ranks it
    # anywhere from first to beyond the tenth among them).
    note = int(last.split()[2].rstrip(","))
    found = await _call(
        client, "search_memory", query=last.split()[5].rstrip(":"), user_id="kai",
        metadata={"note": note},
    )  # fmt: skip
    assert not found.is_error, _text(found)
    assert [hit["id"] for hit in found.structured_content["results"]] == [last_id]
    stats = await _call(client, "stats")
    assert not stats.is_error and stats.structured_content["total_memories"] == len(acknowledged)


async def _carries_on(client: Client, acknowledged: dict[str, str]) -> None:
    """After space returns: adds work again, the waiting vector writes are done, and every
    acknowledged memory is there, found by meaning too."""
    added = await _call(
        client, "add_memory", content="The new office has a rooftop garden", user_id="kai"
    )
    assert not added.is_error, _text(added)
    stats = (await _call(client, "stats")).structured_content
    assert stats["total_memories"] == len(acknowledged) + 1
    assert stats["pending_index"] == 0 and stats["vectors_indexed"] == len(acknowledged) + 1
    found = await _call(client, "search_memory", query="plants on the roof at work", user_id="kai")
    assert found.structured_content["results"][0]["id"] == added.structured_content["id"]
    listed = await _call(client, "list_memories", user_id="kai", limit=100, offset=0)
    assert listed.structured_content["total"] == len(acknowledged) + 1


async def test_embedded_qdrant_on_a_full_disk_answers_and_recovers(tmp_path):
    """The same promises on embedded Qdrant, which blocks holding the GIL when a write or a
    shard load meets a full disk: adds get the clear error, the server's held shard still
    answers searches by meaning, and adds carry on once space returns. (The disk is larger:
    a shard takes about 60 MiB once its vectors are mapped.)"""
    with small_disk(tmp_path / "disk", 160) as disk:
        data_dir = disk / "data"
        env = server_env(data_dir)
        env["MCP_MEMORY_VECTOR__BACKEND"] = "qdrant"
        env["MCP_MEMORY_DISK__MIN_FREE_MB"] = "8"
        command, *args = server_command()
        params = StdioServerParameters(command=command, args=[*args, "serve"], env=env)
        stderr = tmp_path / "stderr.txt"
        with stderr.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                facts = {
                    "The boiler was serviced in March by a technician from Vaillant": "boiler",
                    "Miso the cat takes a thyroid pill every morning": "cat",
                }
                ids = {}
                for content, key in facts.items():
                    added = await _call(client, "add_memory", content=content, user_id="kai")
                    ids[key] = added.structured_content["id"]
                found = await _call(client, "search_memory", query="pet medication", user_id="kai")
                assert found.structured_content["results"][0]["id"] == ids["cat"]

                filler = fill(disk / "filler")
                refused = await _call(client, "add_memory", content="One more " + PADDING)
                assert refused.is_error and f"disk full at {data_dir}" in _text(refused)
                for query, key in (("pet medication", "cat"), ("heating maintenance", "boiler")):
                    found = await _call(client, "search_memory", query=query, user_id="kai")
                    assert not found.is_error, _text(found)
                    assert found.structured_content["results"][0]["id"] == ids[key]

                filler.unlink()
                added = await _call(
                    client, "add_memory", content="The new office has a rooftop garden",
                    user_id="kai",
                )  # fmt: skip
                assert not added.is_error, _text(added)
                found = await _call(
                    client, "search_memory", query="plants on the roof at work", user_id="kai"
                )
                assert (
                    found.structured_content["results"][0]["id"] == added.structured_content["id"]
                )
                stats = (await _call(client, "stats")).structured_content
                assert stats["pending_index"] == 0 and stats["vectors_indexed"] == 3
        assert "Traceback" not in stderr.read_text()

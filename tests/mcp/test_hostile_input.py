"""Every tool fed arbitrary JSON arguments (hypothesis) through an in-process MCP client.

The server must never crash, every refusal must be a clean tool error (a message, no
traceback), every success must match the tool's output schema, and a refused call must leave
the store exactly as it was.
"""

from __future__ import annotations

import contextlib
import sqlite3

import jsonschema
import pytest
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.client import Client

from mcp_memory.mcp.app import create_server
from tests.integration.scenario import CONTRACT_TOOLS

SPECIAL_STRINGS = [
    "",
    "   ",
    "x" * 10_001,
    "q" * 2_001,
    "../../etc/passwd",
    "2999-01-01",
    "2024-05-08T13:56:00Z",
    "31/12/2024",
    "a" * 65,
    "semantic",
    "episodic",
    "fact",
    "archived",
    "active",
    "importance",
    '"; DROP TABLE memories; --',
    "NEAR(a b)",
    "\x00\x1f",
    "alice",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(SPECIAL_STRINGS)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _snapshot(service) -> tuple:
    """Every row of the ledger a refused call could change, read through a connection of its
    own, and the number of vectors."""
    with contextlib.closing(sqlite3.connect(service.ledger.path)) as conn:
        return (
            conn.execute("SELECT * FROM memories ORDER BY seq").fetchall(),
            conn.execute("SELECT COUNT(*) FROM history").fetchone()[0],
            conn.execute("SELECT * FROM index_queue ORDER BY memory_id").fetchall(),
            service.index.count(),
        )


@pytest.mark.parametrize("tool", sorted(CONTRACT_TOOLS))
def test_arbitrary_arguments_never_crash_and_refusals_change_nothing(service, tool):
    seeded = [
        service.add("Kim's locker is number 42", user_id="alice").id,
        service.add("The office plant is watered on Mondays").id,
    ]
    service.flush()  # the adds' vector writes land before the snapshots compare the index
    with start_blocking_portal() as portal:
        client = portal.wrap_async_context_manager(Client(create_server(service)))
        with client as connected:
            tools = {t.name: t for t in portal.call(connected.list_tools).tools}
            params = sorted(tools[tool].input_schema.get("properties", {}))
            keys = st.sampled_from([*params, "unexpected"]) | st.text(max_size=6)
            values = json_values | st.sampled_from(seeded)

            @settings(
                max_examples=40,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(args=st.dictionaries(keys, values, max_size=6))
            def run(args):
                before = _snapshot(service)
                result = portal.call(connected.call_tool, tool, args)
                assert result.content, (tool, args)
                text = result.content[0].text
                if result.is_error:
                    assert text and "Traceback" not in text, text
                    assert _snapshot(service) == before, (tool, args, text)
                else:
                    jsonschema.validate(result.structured_content, tools[tool].output_schema)

            run()
            assert not portal.call(connected.call_tool, "stats", {}).is_error

"""/metrics after known tool calls, scraped and parsed with prometheus_client's own parser;
and the JSON log lines."""

from __future__ import annotations

import io
import json
import logging

import pytest
from mcp.client import Client
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from mcp_memory.config import load_settings
from mcp_memory.http.auth import BearerAuth, grants
from mcp_memory.mcp.app import create_server
from mcp_memory.observe.logs import JsonFormatter
from mcp_memory.observe.metrics import Metrics
from mcp_memory.web.app import web_app
from tests.engines import ENGINES, engine_settings

ADMIN = "admin-token-5f1c9e0a7b3d"
ALICE = "alice-token-8e2d4b6a1c0f"
TOKENS = [{"token": ADMIN}, {"token": ALICE, "user_id": ["alice"]}]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(params=sorted(ENGINES))
def settings(request, tmp_path):
    """The store's gauges hold on every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path)


def scrape(app, token: str | None = ADMIN, client=("203.0.113.9", 5000)) -> tuple[int, dict]:
    """(status, {(name, labels): value}) of one GET /metrics."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    answer = TestClient(app, base_url="http://127.0.0.1:8765", client=client).get(
        "/metrics", headers=headers
    )
    if answer.status_code != 200:
        return answer.status_code, {}
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return 200, samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.anyio
async def test_metrics_count_the_tool_calls_made(service, tmp_path):
    settings = load_settings(data_dir=tmp_path, security={"tokens": TOKENS})
    metrics = Metrics(service)
    app = web_app(service, settings, bind_host="127.0.0.1", metrics=metrics)
    async with Client(create_server(service, metrics=metrics)) as client:
        for text in ("Mo likes figs", "Mo really likes figs", "Mo runs on Sundays"):
            await client.call_tool("add_memory", {"content": text, "user_id": "mo"})
        for _ in range(2):
            await client.call_tool("search_memory", {"query": "fruit", "user_id": "mo"})
        assert (await client.call_tool("get_memory", {"id": "missing"})).is_error
        assert (await client.call_tool("get_memory", {"idd": "x"})).is_error
        assert (await client.call_tool("no_such_tool", {})).is_error
        bad = {"id": "x" * 8, "importance": 0.5, "memory_type": "feeling"}
        assert (await client.call_tool("update_memory", bad)).is_error
        dry = await client.call_tool("consolidate", {"user_id": "mo", "dry_run": True})
        run = await client.call_tool("consolidate", {"user_id": "mo"})
    status, samples = scrape(app)
    assert status == 200
    calls = "mcp_memory_tool_calls_total"
    assert value(samples, calls, tool="add_memory", outcome="ok") == 3
    assert value(samples, calls, tool="search_memory", outcome="ok") == 2
    assert value(samples, calls, tool="get_memory", outcome="not_found") == 1
    assert value(samples, calls, tool="get_memory", outcome="refused") == 1
    assert value(samples, calls, tool="unknown", outcome="refused") == 1
    assert value(samples, calls, tool="update_memory", outcome="invalid_input") == 1
    assert value(samples, calls, tool="consolidate", outcome="ok") == 2
    assert value(samples, "mcp_memory_tool_call_seconds_count", tool="add_memory") == 3
    assert value(samples, "mcp_memory_tool_call_seconds_count", tool="get_memory") == 2
    merged = run.structured_content["duplicates_merged"]
    assert merged == dry.structured_content["duplicates_merged"] == 1
    assert value(samples, "mcp_memory_consolidation_runs_total", mode="dry_run") == 1
    assert value(samples, "mcp_memory_consolidation_runs_total", mode="run") == 1
    actions = "mcp_memory_consolidation_actions_total"
    assert value(samples, actions, action="merge", mode="run") == merged

    stats = service.stats()
    for stage in ("active", "aging", "archiving_soon", "archived"):
        assert value(samples, "mcp_memory_memories", stage=stage) == stats.by_stage.get(stage, 0)
    assert value(samples, "mcp_memory_ledger_memories") == stats.total_memories == 2
    assert value(samples, "mcp_memory_index_queue_length") == 0
    assert value(samples, "mcp_memory_index_drift") == 0
    assert value(samples, "mcp_memory_index_vectors") == 2
    assert value(samples, "mcp_memory_model_load_seconds") > 0


def test_metrics_follow_the_tools_auth_rules(service, tmp_path):
    settings = load_settings(data_dir=tmp_path, security={"tokens": TOKENS})
    metrics = Metrics(service)
    app = web_app(service, settings, bind_host="127.0.0.1", metrics=metrics)
    assert scrape(app, token=None)[0] == 401
    assert scrape(app, token="wrong-token-0123456789")[0] == 401
    assert scrape(app, token=ALICE)[0] == 403  # bound to a user: the figures span everyone
    status, samples = scrape(app)
    assert status == 200
    refusals = "mcp_memory_auth_refusals_total"
    assert value(samples, refusals, reason="missing_token") == 1
    assert value(samples, refusals, reason="unknown_token") == 1
    assert value(samples, refusals, reason="scope") == 1

    local = load_settings(
        data_dir=tmp_path, security={"tokens": TOKENS}, metrics={"loopback_without_token": True}
    )
    opened = web_app(service, local, bind_host="127.0.0.1", metrics=metrics)
    assert scrape(opened, token=None, client=("127.0.0.1", 5000))[0] == 200
    assert scrape(opened, token=None, client=("192.0.2.7", 5000))[0] == 401


def test_the_bearer_check_counts_what_it_refuses():
    refused: list[str] = []

    async def app(scope, receive, send):
        raise AssertionError("a refused request reached the app")

    guarded = BearerAuth(app, grants(load_settings(security={"tokens": TOKENS}).security.tokens),
                         refused.append)  # fmt: skip
    client = TestClient(guarded)
    assert client.get("/mcp").status_code == 401
    assert client.get("/mcp", headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.get("/mcp", headers={"authorization": "Basic abc"}).status_code == 401
    assert refused == ["missing_token", "unknown_token", "missing_token"]


def test_json_log_lines_are_one_object_each():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json-log")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("index %s is %d behind", "memories", 3)
        try:
            raise ValueError("broken\nacross lines")
        except ValueError:
            logger.exception("it failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "index memories is 3 behind" and first["level"] == "WARNING"
    assert first["logger"] == "tests.json-log" and first["time"].endswith("+00:00")
    assert second["message"] == "it failed" and "ValueError: broken" in second["exception"]

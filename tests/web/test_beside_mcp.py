"""The page and /metrics beside the MCP endpoints of one network server (sse and http): each
path reaches its own app, each app keeps its own checks."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from mcp_memory.config import load_settings
from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.serve import network_app
from mcp_memory.observe.metrics import Metrics
from tests.web.conftest import ADMIN, TOKENS


@pytest.mark.parametrize(("transport", "mcp_path"), [("http", "/mcp"), ("sse", "/sse")])
def test_one_server_routes_the_page_metrics_and_mcp(service, tmp_path, transport, mcp_path):
    settings = load_settings(
        data_dir=tmp_path, server={"transport": transport}, security={"tokens": TOKENS}
    )
    metrics = Metrics(service)
    app = network_app(create_server(service, metrics=metrics), settings, service, metrics)
    client = TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False)
    assert client.get("/ui/").headers["location"] == "/ui/signin"
    assert "Sign in" in client.get("/ui/signin").text
    assert client.get("/metrics").status_code == 401
    authorised = {"authorization": f"Bearer {ADMIN}"}
    assert client.get("/metrics", headers=authorised).status_code == 200
    assert client.get(mcp_path).status_code == 401  # the MCP app's bearer check
    assert client.get("/uix").status_code == 401  # not the page: the MCP app answers
    refusals = metrics.registry.get_sample_value(
        "mcp_memory_auth_refusals_total", {"reason": "missing_token"}
    )
    assert refusals == 3  # /metrics, the MCP endpoint, /uix

    off = settings.model_copy(update={"ui": settings.ui.model_copy(update={"enabled": False})})
    plain = TestClient(network_app(create_server(service), off, service, None))
    assert plain.get("/ui/").status_code == 401 and plain.get("/metrics").status_code == 401

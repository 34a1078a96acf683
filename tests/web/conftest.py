"""The page over a real service (real model, each storage engine), driven in-process through
Starlette's test client: a bearer token for an administrator and one bound to alice."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from mcp_memory.config import Settings
from mcp_memory.factory import build_service
from mcp_memory.observe.metrics import Metrics
from mcp_memory.service import MemoryService
from mcp_memory.web.app import web_app
from mcp_memory.web.sessions import Nonces
from tests.engines import ENGINES, engine_settings

ADMIN = "admin-token-5f1c9e0a7b3d"
ALICE = "alice-token-8e2d4b6a1c0f"
BASE = "http://127.0.0.1:8766"
TOKENS = [
    {"name": "admin", "token": ADMIN},
    {"name": "alice-app", "token": ALICE, "user_id": ["alice"]},
]


@pytest.fixture(params=sorted(ENGINES))
def page_settings(request, tmp_path) -> Settings:
    """The page's tests run on every storage engine (tests/engines.py)."""
    return engine_settings(request, tmp_path, security={"tokens": TOKENS}, ui={"page_size": 5})


@pytest.fixture
def page_service(page_settings, embedder, clock) -> Iterator[MemoryService]:
    service = build_service(page_settings, embedder=embedder, clock=clock)
    yield service
    service.close()


@dataclass
class Site:
    """The page's app, its service and metrics, and a way to open browsers on it."""

    app: object
    service: MemoryService
    metrics: Metrics
    nonces: Nonces | None = None

    def client(self, token: str | None = None, **options) -> TestClient:
        client = TestClient(self.app, base_url=BASE, follow_redirects=False, **options)
        if token is not None:
            answer = post(client, "/ui/signin", {"token": token})
            assert answer.status_code == 303, answer.text
        return client


@pytest.fixture
def site(page_settings, page_service) -> Site:
    metrics = Metrics(page_service)
    app = web_app(page_service, page_settings, bind_host="127.0.0.1", metrics=metrics)
    return Site(app, page_service, metrics)


def post(client: TestClient, path: str, data: dict, origin: str = BASE, **options):
    """A form posted from ``origin`` (the page's own, by default)."""
    return client.post(path, data=data, headers={"origin": origin}, **options)


def csrf(client: TestClient) -> str:
    """The CSRF token of the client's session, as its pages carry it."""
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/").text).group(1)


def change(client: TestClient, path: str, data: dict | None = None):
    """A change posted as the page's own form does: same origin, the session's CSRF token."""
    return post(client, path, {"csrf": csrf(client), **(data or {})})


def notes(html: str) -> list[str]:
    """The notes and errors a page shows."""
    return [
        re.sub(r"\s+", " ", n).strip().replace("&#39;", "'")
        for n in re.findall(r'<p class="note[^"]*"[^>]*>(.*?)</p>', html, re.S)
    ]


def memory_ids(html: str) -> list[str]:
    """The ids of the memories a list or search page shows, in order."""
    return re.findall(r'<a class="text" href="/ui/memory/([^"]+)"', html)

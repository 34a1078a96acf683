"""The page and /metrics over a store on embedded Qdrant: what they show comes through the
service, so they read the same on either engine (test_page.py runs them on Chroma)."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mcp_memory.config import load_settings
from tests.web.conftest import ADMIN, TOKENS, memory_ids


@pytest.fixture
def page_settings(tmp_path):
    return load_settings(
        data_dir=tmp_path / "data", security={"tokens": TOKENS}, vector={"backend": "qdrant"}
    )


def test_the_page_searches_and_metrics_count_an_embedded_qdrant_index(site):
    service = site.service
    for text in ("Hana loves hiking in the Alps", "Hana's cat is called Miso"):
        service.add(text, user_id="hana")
    admin = site.client(ADMIN)
    page = admin.get("/ui/?q=which+pet+does+hana+have&user_id=hana").text
    direct = service.search("which pet does hana have", user_id="hana", count_access=False)
    assert memory_ids(page) == [h.id for h in direct.results] and "Miso" in page
    assert re.findall(r"similarity (\d\.\d{3})</span>", page)[0] == (
        f"{direct.results[0].similarity:.3f}"
    )

    answer = admin.get("/metrics", headers={"authorization": f"Bearer {ADMIN}"})
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if not s.labels
    }
    assert samples["mcp_memory_index_vectors"] == samples["mcp_memory_ledger_memories"] == 2
    assert samples["mcp_memory_index_drift"] == 0

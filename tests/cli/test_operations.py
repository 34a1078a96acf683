"""Operations in process: resources, prompt, tool profiles, reindex, doctor and config init."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import platformdirs
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from mcp_memory.cli import config_template, doctor
from mcp_memory.config import Settings, load_settings
from mcp_memory.errors import ConfigError, IndexMismatch
from mcp_memory.factory import build_service, chroma_catalog, reindex_store
from mcp_memory.indexing.reindex import current_collection, target_key
from mcp_memory.mcp.app import create_server
from mcp_memory.mcp.profiles import CORE_TOOLS
from tests.integration.scenario import CONTRACT_TOOLS

FACTS = [
    "Priya is allergic to penicillin",
    "Priya's daughter Asha starts school in September",
    "Priya prefers aisle seats on flights",
    "Priya's team deploys on Thursdays",
    "Priya drives an electric Kia",
]


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _add_facts(service) -> dict[str, str]:
    """Add the facts and wait for their vector writes (add leaves them to a background thread)."""
    ids = {text: service.add(text, user_id="priya", category="fact").id for text in FACTS}
    service.flush()
    return ids


def _collections(settings: Settings) -> list[str]:
    catalog = chroma_catalog(settings)
    try:
        return catalog.names()
    finally:
        catalog.close()


# -- MCP resources, prompt, tool profiles ---------------------------------------------------


@pytest.mark.anyio
async def test_resources_show_stats_and_one_memory(service):
    ids = _add_facts(service)
    memory_id = ids[FACTS[0]]
    async with Client(create_server(service)) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = {
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }
        stats = await client.read_resource("memory://stats")
        nobody = await client.read_resource("memory://stats?user_id=nobody")
        memory = await client.read_resource(f"memory://memories/{memory_id}")
        with pytest.raises(MCPError, match="not found"):
            await client.read_resource("memory://memories/0123456789abcdef0123456789abcdef")
    assert listed == {"memory://stats"}
    assert templates == {"memory://stats{?user_id,agent_id,session_id}", "memory://memories/{id}"}
    assert json.loads(stats.contents[0].text)["total_memories"] == len(FACTS)
    assert stats.contents[0].mime_type == "application/json"
    assert json.loads(nobody.contents[0].text)["total_memories"] == 0
    body = json.loads(memory.contents[0].text)
    assert body["id"] == memory_id and body["content"] == FACTS[0]


@pytest.mark.anyio
async def test_prompt_tells_the_agent_how_to_use_memory(service):
    async with Client(create_server(service)) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        plain = await client.get_prompt("use_memory")
        personal = await client.get_prompt("use_memory", {"user_id": "priya"})
    assert "use_memory" in prompts and prompts["use_memory"].description
    text = plain.messages[0].content.text
    for must in ("search_memory", "add_memory", "user_id", "agent_id", "session_id"):
        assert must in text
    assert "user_id='priya'" in personal.messages[0].content.text
    assert "priya" not in text


@pytest.mark.anyio
async def test_core_profile_lists_four_tools_and_full_lists_nine(service):
    async with Client(create_server(service, tools="core")) as client:
        core = {t.name for t in (await client.list_tools()).tools}
        added = await client.call_tool("add_memory", {"content": "Lee plays the cello"})
        found = await client.call_tool("search_memory", {"query": "what instrument?"})
        hidden = await client.call_tool("get_memory", {"id": added.structured_content["id"]})
    async with Client(create_server(service)) as client:
        full = {t.name for t in (await client.list_tools()).tools}
    assert core == set(CORE_TOOLS) and full == CONTRACT_TOOLS
    assert found.structured_content["results"][0]["id"] == added.structured_content["id"]
    assert hidden.is_error


def test_tools_setting_is_validated(tmp_path):
    assert load_settings(data_dir=tmp_path, server={"tools": "core"}).server.tools == "core"
    with pytest.raises(ConfigError, match=r"server\.tools"):
        load_settings(data_dir=tmp_path, server={"tools": "some"})


# -- reindex --------------------------------------------------------------------------------


def test_reindex_serves_the_old_index_until_the_new_one_is_complete(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = _add_facts(service)
    base = settings.vector.collection
    old = current_collection(service.ledger, base)
    seen: list[tuple[int, str, str]] = []
    added_meanwhile: list[str] = []

    def hook(done: int, total: int) -> None:
        """Runs between batches: the service must still answer from the old collection."""
        if 0 < done < total:
            top = service.search("What medicine must she avoid?", user_id="priya").results[0]
            seen.append(
                (done, current_collection(service.ledger, settings.vector.collection), top.id)
            )
            if not added_meanwhile:
                added_meanwhile.append(service.add("Priya learns Portuguese", user_id="priya").id)
            if len(seen) == 1:
                service.delete(ids[FACTS[4]])

    result = reindex_store(settings, embedder=embedder, progress=hook, batch_size=2)
    assert seen and all(name == old and top == ids[FACTS[0]] for _, name, top in seen)
    assert result.old_collection == old and result.new_collection != old
    assert current_collection(service.ledger, settings.vector.collection) == result.new_collection
    names = _collections(settings)
    assert result.new_collection in names and old not in names
    report = service.index_report()
    assert report.agrees and report.memories == len(FACTS)
    top = service.search("Which language is she learning?", user_id="priya").results[0]
    assert top.id == added_meanwhile[0]
    service.close()


def test_failed_reindex_leaves_the_old_index_current(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = _add_facts(service)
    old = current_collection(service.ledger, settings.vector.collection)

    def fail(done: int, total: int) -> None:
        if done:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        reindex_store(settings, embedder=embedder, progress=fail, batch_size=2)
    assert current_collection(service.ledger, settings.vector.collection) == old
    names = _collections(settings)
    assert old in names and not [n for n in names if n.startswith(old + "-")]
    top = service.search("What medicine must she avoid?", user_id="priya").results[0]
    assert top.id == ids[FACTS[0]]
    service.close()


def test_a_reindex_killed_midway_is_reported_then_cleaned_up(settings, embedder, clock):
    """A process killed mid-reindex runs no cleanup: leave its state and collection by hand."""
    service = build_service(settings, embedder=embedder, clock=clock)
    _add_facts(service)
    base = settings.vector.collection
    catalog = chroma_catalog(settings)
    leftover = f"{base}-deadbeef"
    catalog.open(leftover, embedder.name, embedder.dimension)
    service.ledger.set_state(target_key(base), leftover)
    catalog.close()
    added = service.add("Priya's passport expires in 2031", user_id="priya")
    service.close()
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["reindex"].status == "warn" and leftover in checks["reindex"].detail
    result = reindex_store(settings, embedder=embedder)
    assert leftover not in _collections(settings)
    assert "reindex" not in {c.name for c in doctor.run(settings, None)}
    assert result.memories == len(FACTS) + 1 and added.id


def test_changed_model_without_reindex_is_a_clear_error(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    _add_facts(service)
    service.close()
    result = reindex_store(settings, model="all-MiniLM-L6-v2")
    assert result.model == "all-MiniLM-L6-v2" and result.memories == len(FACTS)
    stale = build_service(settings, embedder=embedder, clock=clock)
    with pytest.raises(IndexMismatch, match=r"all-MiniLM-L6-v2.*mcp-memory reindex"):
        stale.search("allergy", user_id="priya")
    stale.close()
    switched = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"model": "all-MiniLM-L6-v2"})}
    )
    fresh = build_service(switched, clock=clock)
    assert (
        fresh.search("What medicine must she avoid?", user_id="priya").results[0].content
        == (FACTS[0])
    )
    fresh.close()


# -- doctor ---------------------------------------------------------------------------------


def test_doctor_reports_and_repairs_disagreement(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    ids = _add_facts(service)
    service.index.delete([ids[FACTS[1]]])
    service.close()
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert {c.status for c in checks.values()} <= {"ok", "warn"}
    assert checks["model"].status == "ok" and "384 dimensions" in checks["model"].detail
    if settings.storage.backend == "sqlite":
        assert str(settings.data_dir) in checks["data dir"].detail
    else:  # nothing local: the database is checked instead
        assert checks["database"].status == "ok" and "data dir" not in checks
    lag = checks["ledger vs index"]
    assert lag.status == "warn" and "1 missing" in lag.detail and "--repair" in lag.fix
    repaired = {c.name: c for c in doctor.run(settings, None, repair=True)}
    assert repaired["ledger vs index"].status == "ok"
    table = doctor.render(list(repaired.values()))
    assert re.search(r"^ledger vs index\s+ok\s+5 memories, 5 vectors", table, re.M)
    assert json.loads(json.dumps(doctor.as_json(list(repaired.values()))))["ok"] is True


def test_doctor_points_at_reindex_when_the_model_changed(settings, embedder, clock):
    service = build_service(settings, embedder=embedder, clock=clock)
    _add_facts(service)
    service.close()
    reindex_store(settings, model="all-MiniLM-L6-v2")
    checks = {c.name: c for c in doctor.run(settings, None)}
    assert checks["vector index"].status == "fail"
    assert "mcp-memory reindex" in checks["vector index"].fix
    assert doctor.as_json(list(checks.values()))["ok"] is False


# -- config init ----------------------------------------------------------------------------


def _leaves(table: dict) -> list:
    return [
        leaf
        for value in table.values()
        for leaf in (_leaves(value) if isinstance(value, dict) else [value])
    ]


def test_config_template_lists_every_key_with_its_default(tmp_path):
    path = config_template.write(tmp_path / "config.toml")
    text = path.read_text()
    as_written = tomllib.loads(text)
    assert _leaves(as_written) == [], "every key is commented out"
    assert Settings(**as_written) == Settings()
    uncommented = "\n".join(
        re.sub(r"^# (\w+ = |\[[\w.]+\])", r"\1", line) for line in text.splitlines()
    )
    data = tomllib.loads(uncommented)
    paths = {"data_dir": True, "embedding": {"cache_dir"}, "security": {"token_file"}}
    assert Settings(**data).model_dump(exclude=paths) == Settings().model_dump(exclude=paths)
    assert data["data_dir"] == platformdirs.user_data_dir("mcp-memory")
    assert data["embedding"]["cache_dir"] == platformdirs.user_cache_dir("mcp-memory")
    token_file = Path(platformdirs.user_config_dir("mcp-memory")) / "token"
    assert data["security"]["token_file"] == str(token_file)
    assert data["vector"]["backend"] == "auto" and data["server"]["tools"] == "full"
    assert data["storage"] == {
        "backend": "sqlite",
        "dsn": "",
        "schema": "mcp_memory",
        "pool_size": 10,
        "timeout_s": 10.0,
    }
    with pytest.raises(FileExistsError):
        config_template.write(path)

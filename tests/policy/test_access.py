"""Scope-bound grants, enforced in the core for every tool, and the network start-up checks."""

from __future__ import annotations

import pytest

from mcp_memory.config import load_settings
from mcp_memory.errors import AccessDenied, ConfigError, MemoryNotFound
from mcp_memory.http.origins import is_loopback
from mcp_memory.mcp.security import check_network_security, transport_security
from mcp_memory.models import Scope
from mcp_memory.policy.access import Grant, acting_as

ALICE = Grant(name="alice-app", user_id=frozenset({"alice"}))


def test_a_grant_fills_absent_scopes_and_refuses_others():
    assert ALICE.confine(Scope()) == Scope(user_id="alice")
    assert ALICE.confine(Scope(user_id="alice", agent_id="x")) == Scope(
        user_id="alice", agent_id="x"
    )
    with pytest.raises(AccessDenied, match="may not use user_id 'bob'"):
        ALICE.confine(Scope(user_id="bob"))
    two = Grant(user_id=frozenset({"a", "b"}))
    with pytest.raises(AccessDenied, match="pass user_id"):
        two.confine(Scope())
    assert Grant().confine(Scope(user_id="anyone")) == Scope(user_id="anyone")


def test_a_bound_token_reads_and_writes_only_inside_its_scope(service):
    bobs = service.add("Bob keeps his spare key under the blue flowerpot", user_id="bob")
    with acting_as(ALICE):
        mine = service.add("Alice's spare key is with the neighbour")
        assert mine.memory.user_id == "alice"
        with pytest.raises(AccessDenied):
            service.add("sneaky", user_id="bob")
        with pytest.raises(AccessDenied):
            service.search("spare key", user_id="bob")
        hits = service.search("where is the spare key kept", limit=10).results
        assert [h.id for h in hits] == [mine.id]
        assert [m.id for m in service.list().memories] == [mine.id]
        assert service.stats().total_memories == 1
        for call in (
            lambda: service.get(bobs.id),
            lambda: service.update(bobs.id, content="changed"),
            lambda: service.delete(bobs.id),
            lambda: service.history(bobs.id),
        ):
            with pytest.raises(MemoryNotFound):
                call()
        assert service.consolidate().duplicates_merged == 0
    assert service.get(bobs.id).memory.content.startswith("Bob keeps")
    assert service.get(bobs.id).memory.version == 1


def test_non_loopback_network_server_without_token_is_refused(tmp_path):
    bare = load_settings(data_dir=tmp_path, server={"transport": "http", "host": "0.0.0.0"})
    with pytest.raises(ConfigError, match="without a bearer token"):
        check_network_security(bare)
    with_token = load_settings(
        data_dir=tmp_path,
        server={"transport": "http", "host": "0.0.0.0"},
        security={"tokens": [{"token": "x" * 32}]},
    )
    check_network_security(with_token)
    check_network_security(load_settings(data_dir=tmp_path, server={"transport": "sse"}))
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_host_checks_are_on_for_loopback_and_configurable(tmp_path):
    local = load_settings(data_dir=tmp_path)
    checks = transport_security(local.server, local.security)
    assert checks.enable_dns_rebinding_protection and "localhost:*" in checks.allowed_hosts
    named = load_settings(
        data_dir=tmp_path,
        server={"host": "0.0.0.0"},
        security={"tokens": [{"token": "y" * 32}], "allowed_hosts": ["mem.example.org:*"]},
    )
    assert "mem.example.org:*" in transport_security(named.server, named.security).allowed_hosts


def test_bad_security_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="tokens"):
        load_settings(data_dir=tmp_path, security={"tokens": [{"token": "short"}]})
    with pytest.raises(ConfigError, match="twice"):
        load_settings(data_dir=tmp_path, security={"tokens": [{"token": "z" * 20}] * 2})

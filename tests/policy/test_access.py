"""Scope-bound grants, enforced in the core for every tool, and the network start-up checks."""

from __future__ import annotations

import pytest

from mcp_memory.config import load_settings
from mcp_memory.errors import AccessDenied, ConfigError, InvalidInput, MemoryNotFound
from mcp_memory.mcp.security import check_network_security, network_tokens, transport_security
from mcp_memory.models import EventKind, Scope
from mcp_memory.policy.access import Grant, acting_as
from mcp_memory.policy.tokens import is_loopback
from mcp_memory.policy.validation import content_hash

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


def test_a_bound_token_sees_figures_and_runs_of_its_scope_only(service):
    bob = [service.add(f"Bob's locker {n} holds his {t}", user_id="bob") for n, t in
           enumerate(["racket", "towel", "trainers"])]  # fmt: skip
    service.add("The office closes at six on Fridays")
    bob_run = service.consolidate(user_id="bob").run_id
    global_run = service.consolidate().run_id
    service.consolidate(undo=bob_run)
    service.flush()
    service.index.delete([bob[0].id])  # the whole store now lacks a vector ...
    changed = bob[1].memory.model_copy(update={"importance_score": 0.95, "version": 2})
    service.ledger.save(changed, content_hash(changed.content), EventKind.UPDATE, reindex=True)
    whole = service.stats()  # ... and has an index write pending
    assert (whole.vectors_indexed, whole.pending_index, whole.index_in_sync) == (3, 1, False)
    assert whole.storage_bytes > 0 and whole.last_consolidation.run_id == global_run
    with acting_as(ALICE):
        service.add("Alice keeps her racket in the car")
        service.flush()
        mine = service.stats()
        assert (mine.vectors_indexed, mine.pending_index, mine.index_in_sync) == (1, 0, True)
        assert mine.storage_bytes is None and mine.last_consolidation is None
        for run_id in (bob_run, global_run):  # bob's (already undone) and the global one
            with pytest.raises(InvalidInput) as refused:
                service.consolidate(undo=run_id)
            assert str(refused.value).startswith(f"no consolidation run '{run_id}'")
            assert "bob" not in str(refused.value) and "undone" not in str(refused.value)
        own = service.consolidate().run_id
        assert service.stats().last_consolidation.run_id == own
    assert service.stats(user_id="bob").last_consolidation.run_id == bob_run
    assert service.stats(user_id="bob").vectors_indexed == 2


def test_a_network_server_always_requires_a_token_unless_no_auth_on_loopback(tmp_path):
    token_file = tmp_path / "config" / "token"
    security = {"token_file": str(token_file)}
    network = {"transport": "http", "host": "0.0.0.0"}
    bare = load_settings(data_dir=tmp_path, server=network, security=security)
    (generated,) = network_tokens(bare).tokens
    assert generated.token.get_secret_value() == token_file.read_text().strip()
    configured = {**security, "tokens": [{"token": "x" * 32}]}
    with_token = load_settings(data_dir=tmp_path, server=network, security=configured)
    assert [t.token.get_secret_value() for t in network_tokens(with_token).tokens] == ["x" * 32]
    no_auth = {**security, "no_auth": True}
    with pytest.raises(ConfigError, match=r"--no-auth is refused on 0\.0\.0\.0"):
        check_network_security(load_settings(data_dir=tmp_path, server=network, security=no_auth))
    local = load_settings(data_dir=tmp_path, server={"transport": "sse"}, security=no_auth)
    assert network_tokens(local).tokens == []
    both = {**configured, "no_auth": True}
    with pytest.raises(ConfigError, match="contradict"):
        check_network_security(load_settings(data_dir=tmp_path, server={"transport": "sse"},
                                             security=both))  # fmt: skip
    assert network_tokens(load_settings(data_dir=tmp_path, security=no_auth)).tokens == []
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

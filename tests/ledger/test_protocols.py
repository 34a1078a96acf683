"""The SQLite ledger implements every protocol of ``store.ledger`` with the very signatures the
protocols declare, so the protocols (what a PostgreSQL ledger will implement) cannot drift
from the engine the service runs on."""

import inspect

import pytest

from mcp_memory.ledger import (
    Ledger,
    integrity,
    journal,
    keywords,
    memories,
    outbox,
    reads,
    sessions,
    state,
)
from mcp_memory.store import ledger as protocols

PROTOCOLS = {
    name: value
    for name, value in vars(protocols).items()
    if inspect.isclass(value)
    and value.__module__ == protocols.__name__
    and getattr(value, "_is_protocol", False)
}
# Each part of the SQLite ledger implements the protocol of the same name.
PARTS = {
    "MemoryWriter": memories.MemoryWriter,
    "MemoryReader": reads.MemoryReader,
    "Outbox": outbox.Outbox,
    "KeywordIndex": keywords.KeywordIndex,
    "SessionStore": sessions.SessionStore,
    "Journal": journal.Journal,
    "StateStore": state.StateStore,
    "Integrity": integrity.Integrity,
}
# Public members of the SQLite ledger that are its own business, not the service's.
ENGINE_ONLY = {"transaction", "migrate", "path", "access_log_days", "traced", "query_plan"}


def members(protocol: type) -> dict[str, object]:
    """The methods and properties a protocol declares, its own and those it combines."""
    found: dict[str, object] = {}
    for cls in reversed(protocol.__mro__):
        if cls in PROTOCOLS.values():
            found.update(
                (name, value)
                for name, value in vars(cls).items()
                if not name.startswith("_") and (callable(value) or isinstance(value, property))
            )
    return found


def signature(member: object) -> inspect.Signature:
    function = member.fget if isinstance(member, property) else member
    return inspect.signature(function, eval_str=True)


def test_the_protocols_are_the_ones_the_parts_implement():
    assert set(PROTOCOLS) == {*PARTS, "MemoryStore", "LedgerStore"}
    assert set(members(protocols.LedgerStore)) == {
        name for protocol in PROTOCOLS.values() for name in members(protocol)
    }


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_ledger_has_each_method_of_the_protocol_with_its_signature(name):
    for engine in (Ledger, PARTS.get(name, Ledger)):
        for member, declared in members(PROTOCOLS[name]).items():
            implemented = inspect.getattr_static(engine, member, None)
            assert implemented is not None, f"{engine.__name__} lacks {name}.{member}"
            assert isinstance(implemented, property) == isinstance(declared, property), member
            assert signature(implemented) == signature(declared), f"{name}.{member}"


def test_everything_public_on_the_ledger_is_in_a_protocol():
    public = {name for name in dir(Ledger) if not name.startswith("_")}
    assert public - ENGINE_ONLY == set(members(protocols.LedgerStore))


def test_the_protocols_exchange_no_engine_types():
    for protocol in PROTOCOLS.values():
        for member, declared in members(protocol).items():
            sig = signature(declared)
            types = [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]
            for annotation in types:
                assert "sqlite" not in repr(annotation).lower(), (protocol.__name__, member)

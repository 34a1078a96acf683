"""The PostgreSQL ledger implements every protocol of ``store.ledger`` with the very signatures
the protocols declare, each part the protocol of its name, as the SQLite ledger does
(tests/ledger/test_protocols.py): the service cannot tell the two engines apart."""

import inspect

import pytest

from mcp_memory.postgres import (
    PostgresLedger,
    integrity,
    journal,
    keywords,
    memories,
    outbox,
    reads,
    sessions,
    state,
)
from mcp_memory.postgres.vectors import PgVectorCatalog, PgVectorIndex
from mcp_memory.store import ledger as protocols
from mcp_memory.store import vectors as vector_protocols
from tests.ledger.test_protocols import PROTOCOLS, members, signature

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
ENGINE_ONLY = {"db", "access_log_days", "traced", "query_plan"}
"""Public members of the PostgreSQL ledger that are its own business, not the service's."""


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_each_part_has_each_method_of_its_protocol_with_its_signature(name):
    for engine in (PostgresLedger, PARTS.get(name, PostgresLedger)):
        for member, declared in members(PROTOCOLS[name]).items():
            implemented = inspect.getattr_static(engine, member, None)
            assert implemented is not None, f"{engine.__name__} lacks {name}.{member}"
            assert isinstance(implemented, property) == isinstance(declared, property), member
            assert signature(implemented) == signature(declared), f"{name}.{member}"


def test_everything_public_on_the_ledger_is_in_a_protocol():
    public = {name for name in dir(PostgresLedger) if not name.startswith("_")}
    assert public - ENGINE_ONLY == set(members(protocols.LedgerStore))


@pytest.mark.parametrize(
    ("engine", "protocol"),
    [
        (PgVectorIndex, vector_protocols.VectorIndex),
        (PgVectorCatalog, vector_protocols.IndexCatalog),
    ],
)
def test_pgvector_implements_the_vector_protocols(engine, protocol):
    declared = {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") and callable(value)
    }
    for member, method in declared.items():
        implemented = inspect.getattr_static(engine, member, None)
        assert implemented is not None, f"{engine.__name__} lacks {member}"
        mine, theirs = signature(implemented), signature(method)
        assert mine.parameters == theirs.parameters, member
        returned = mine.return_annotation
        assert returned == theirs.return_annotation or (
            theirs.return_annotation is vector_protocols.VectorIndex and returned is PgVectorIndex
        ), member

"""Who may touch which memories: the grant of the caller, enforced inside the core.

A network client authenticates with a bearer token; a token may be bound to scope values
(``user_id`` and/or ``agent_id``). The MCP layer puts the caller's ``Grant`` in a context
variable for the duration of a tool call (``acting_as``); the core consults it in two places,
so every tool, present or future, is covered:

- ``confine`` (called by ``validation.scope``, which every scoped call goes through): a scope
  argument outside the grant is refused; an absent one is filled with the grant's value, so a
  bound token reads and writes only inside its scopes.
- ``admits`` (called when a memory is fetched by id, and when a consolidation run is undone): a
  memory (or a run) outside the grant looks exactly like one that does not exist.

No grant (stdio, or a token bound to nothing) means full access.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from mcp_memory.errors import AccessDenied
from mcp_memory.models import Memory, Scope

BOUND_KEYS = ("user_id", "agent_id")


@dataclass(frozen=True)
class Grant:
    """The scope values one caller may use; ``None`` for a key means any value."""

    name: str = ""
    user_id: frozenset[str] | None = None
    agent_id: frozenset[str] | None = None

    @property
    def unrestricted(self) -> bool:
        return self.user_id is None and self.agent_id is None

    def admits(self, memory: Memory | Scope) -> bool:
        """Whether a memory (or a scope) lies inside this grant."""
        for key in BOUND_KEYS:
            allowed = getattr(self, key)
            if allowed is not None and getattr(memory, key) not in allowed:
                return False
        return True

    def confine(self, scope: Scope) -> Scope:
        """The scope narrowed to this grant, or ``AccessDenied`` if it reaches outside."""
        values = scope.model_dump()
        for key in BOUND_KEYS:
            allowed = getattr(self, key)
            if allowed is None:
                continue
            given = values[key]
            if given is None:
                if len(allowed) != 1:
                    raise AccessDenied(
                        f"this token may use {key} {', '.join(sorted(allowed))}: pass {key} "
                        "to say which"
                    )
                values[key] = next(iter(allowed))
            elif given not in allowed:
                raise AccessDenied(
                    f"this token may not use {key} {given!r}; it is limited to "
                    f"{', '.join(sorted(allowed))}"
                )
        return Scope(**values)


_CURRENT: ContextVar[Grant | None] = ContextVar("mcp_memory_grant", default=None)


def current() -> Grant | None:
    """The grant of the caller being served, or None (full access)."""
    return _CURRENT.get()


def set_current(grant: Grant | None) -> None:
    """Make ``grant`` the caller's for the rest of this task (and threads it starts)."""
    _CURRENT.set(None if grant is None or grant.unrestricted else grant)


@contextlib.contextmanager
def acting_as(grant: Grant | None) -> Iterator[None]:
    """Run a block on behalf of a caller with this grant."""
    token = _CURRENT.set(None if grant is None or grant.unrestricted else grant)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def confine(scope: Scope) -> Scope:
    grant = current()
    return scope if grant is None else grant.confine(scope)


def admits(memory: Memory | Scope) -> bool:
    """Whether the caller may see this memory (or what was done over this scope)."""
    grant = current()
    return grant is None or grant.admits(memory)

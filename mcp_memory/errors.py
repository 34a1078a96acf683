"""The exceptions of the memory core, one tree, messages written for the agent that reads them.

``MemoryServiceError`` is the root. The MCP layer translates every subclass into a tool error
carrying the message unchanged, so each message says what was wrong and what to do about it.

- ``InvalidInput``: an argument is malformed or out of range; nothing was changed.
- ``MemoryNotFound``: no memory has the given id (or it is outside the caller's scopes).
- ``ConfigError``: the configuration file or environment holds a bad value.
- ``IndexMismatch``: the vector index was built with another embedding model.
- ``StoreUnavailable``: a store cannot be opened or written (disk full, permissions...).
- ``Conflict``: memories changed while an operation planned on them; nothing was changed.
- ``AccessDenied``: the caller's token is bound to other scopes than the ones asked for.
- ``UnreadableMemory``: a stored row cannot be decoded (damaged by hand or an old version).

Expected outcomes, such as no search hits or an exact duplicate, are values, not exceptions.
"""


class MemoryServiceError(Exception):
    """Root of every error the memory core raises on purpose."""


class InvalidInput(MemoryServiceError, ValueError):
    """An argument is malformed or out of range; the call changed nothing."""


class MemoryNotFound(MemoryServiceError, LookupError):
    """No memory has the given id."""

    def __init__(self, memory_id: str):
        super().__init__(
            f"memory '{memory_id}' not found: check the id (search_memory or list_memories "
            "return ids) or whether it was deleted"
        )
        self.memory_id = memory_id


class ConfigError(MemoryServiceError):
    """The configuration holds a bad value; the message names the key."""


class IndexMismatch(MemoryServiceError):
    """The vector index was built with another embedding model or dimension."""


class StoreUnavailable(MemoryServiceError):
    """A store could not be opened or written."""


class Conflict(MemoryServiceError):
    """Memories changed between planning and applying a change (or an undo); nothing changed."""


class AccessDenied(MemoryServiceError, PermissionError):
    """The caller's token may not use the scope asked for; nothing was read or changed."""


class UnreadableMemory(MemoryServiceError):
    """A stored memory's row cannot be decoded (a column damaged outside this program, or
    written by an older version). Reads of many memories skip it with a warning; ``doctor``
    lists it."""

    def __init__(self, memory_id: str, problem: str):
        super().__init__(
            f"memory '{memory_id}' cannot be read from the store ({problem}): "
            "`mcp-memory doctor` says how to repair or remove it"
        )
        self.memory_id = memory_id
        self.problem = problem

"""The exceptions of the memory core, one tree, messages written for the agent that reads them.

``MemoryServiceError`` is the root. The MCP layer translates every subclass into a tool error
carrying the message unchanged, so each message says what was wrong and what to do about it.

- ``InvalidInput``: an argument is malformed or out of range; nothing was changed.
- ``MemoryNotFound``: no memory has the given id (or it is outside the caller's scopes).
- ``ConfigError``: the configuration file or environment holds a bad value.
- ``IndexMismatch``: the vector index was built with another embedding model.
- ``StoreUnavailable``: a store cannot be opened or written (permissions, a lock...).
  - ``StorageFull``: the data dir's disk is full (or under the reserve writes keep free).
  - ``StoreDamaged``: a store's files are damaged. ``IndexDamaged``, the vector index's, is
    raised by a vector engine and mended by rebuilding the index from the ledger; the ledger's
    own damage is reported (restore a backup or an export), and it is no longer written to.
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


class StorageFull(StoreUnavailable):
    """The disk holding ``path`` is full, or has less free space than the reserve writes keep.

    Nothing was changed by the call that failed; what was acknowledged before stays, and vector
    writes still queued in the ledger's outbox resume once there is space again.
    """

    def __init__(self, path: object, free_bytes: int | None = None, reserve_bytes: int = 0):
        free = "" if free_bytes is None else f"{free_bytes / 1_048_576:.2f} MiB free"
        if free and reserve_bytes:
            free += (
                f", under the {reserve_bytes / 1_048_576:g} MiB kept in reserve (disk.min_free_mb)"
            )
        super().__init__(
            f"disk full at {path}{': ' + free if free else ''}: free space on that disk (or "
            "move data_dir elsewhere), then retry; nothing was changed by this call, memories "
            "already stored are kept, and queued index writes resume by themselves"
        )
        self.path = path


class StoreDamaged(StoreUnavailable):
    """A store's files are damaged; the message names the file and what to do."""


class IndexDamaged(StoreDamaged):
    """The vector index's files are damaged. The index is derived from the ledger, so the
    service rebuilds it (``IndexGuard``); raised by the vector engine, with ``path``."""

    def __init__(self, path: object, detail: str):
        super().__init__(
            f"the vector index at {path} is damaged ({detail}): it is rebuilt from the ledger, "
            "which holds every memory: run `mcp-memory doctor --repair` (a starting server "
            "does it by itself)"
        )
        self.path = path
        self.detail = detail


class LedgerDamaged(StoreDamaged):
    """The ledger (the source of truth) is damaged: nothing more is written to it."""

    def __init__(self, path: object, detail: str):
        super().__init__(
            f"the ledger {path} is damaged ({detail}), so nothing more is written to it: stop "
            "every mcp-memory process, then restore that file from a backup (and delete the "
            "-wal and -shm files beside it), or move it aside and `mcp-memory import` an "
            "export; `mcp-memory export` or `sqlite3 FILE .dump` may salvage what is still "
            "readable (README, Troubleshooting)"
        )
        self.path = path
        self.detail = detail


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

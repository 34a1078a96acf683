"""The SQLite ledger: the source of truth for every memory."""

from mcp_memory.ledger.sqlite import Ledger

__all__ = ["Ledger"]

"""Where ``Ledger`` lived before the ledger became a package of parts; kept for the modules
that still import it from here (service, consolidation runner, reindex), until they take the
protocols of ``mcp_memory.store.ledger``. New code imports ``mcp_memory.ledger``."""

from mcp_memory.ledger import Ledger

__all__ = ["Ledger"]

"""mcp-memory: long-term memory for AI agents, served over the Model Context Protocol.

The package is layered: ``server`` and ``cli`` call ``service.MemoryService``, which composes the
ledger (SQLite, the source of truth), the vector index (Chroma, derived), the embedder and the
pure policy modules (``scoring``, ``lifecycle``, ``consolidation``).
"""

__version__ = "0.1.0"

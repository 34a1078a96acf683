"""mcp-memory: long-term memory for AI agents, served over the Model Context Protocol.

One package per idea (the README's "How it works" draws them): the entry points ``mcp`` and
``cli`` call ``service.MemoryService``, a facade over ``search``, ``indexing``,
``consolidation``, ``transfer`` and ``policy``; those see storage only through the protocols of
``store``, which the engines implement (``ledger``: SQLite, the source of truth; ``vectors``:
Chroma, derived; ``embeddings``: the local model). ``factory`` builds it all from settings.
"""

__version__ = "0.1.0"

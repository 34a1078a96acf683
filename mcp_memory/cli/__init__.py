"""The command line: ``mcp-memory serve``, ``stats``, ``doctor`` and the rest."""

from mcp_memory.cli.main import main

__all__ = ["main"]

"""``python -m mcp_memory`` is the ``mcp-memory`` command."""

from mcp_memory.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())

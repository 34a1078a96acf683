"""The MCP layer: the tools of the contract over stdio, SSE and streamable HTTP.

The only package that imports the MCP SDK. One concern per module:

- ``app``: ``create_server``, the server of one process over one ``MemoryService``.
- ``tools``: the nine tools; ``arguments``: what each argument means to the agent.
- ``calls``: how a request reaches the service (grant, worker thread, activity, errors).
- ``schema``: the compact output schemas; ``profiles``: which tools a server publishes.
- ``resources`` and ``prompts``: the read-only views and the ``use_memory`` prompt.
- ``security``: who may use a network server (the token check itself, and the Host/Origin
  rules, are ``mcp_memory.http``'s, shared with the memory page).
- ``metered``: tool calls counted and timed for ``/metrics``.
- ``serve``: the transport (with the memory page and ``/metrics`` beside a network one), the
  warm-up after the handshake, the consolidation schedule.
"""

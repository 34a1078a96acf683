"""What every HTTP entry point shares: who may come in, and from where.

Used by the MCP transports (``mcp/``) and the memory page (``web/``) alike, so that a token,
its grant and the Host/Origin rules mean the same thing on every route of a server. No MCP SDK,
no page: plain ASGI and the settings.

- ``auth``: the bearer tokens (``TokenBook``: digests compared in constant time, each with its
  ``Grant``) and ``BearerAuth``, the ASGI middleware that requires one.
- ``origins``: which Host and Origin headers a server accepts (``Origins``), and
  ``is_loopback``.
- ``dispatch``: one ASGI app in front of several, by path prefix (the page beside MCP).
"""

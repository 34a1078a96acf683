"""The memory page in the browser, and ``/metrics``: what a person and an operator see.

Only the entry points (``mcp/serve.py``, ``cli``) import it. It calls ``MemoryService`` for
everything, confined to the signed-in token's grant exactly as a tool call is.

- ``app``: ``web_app``, the ASGI app (routes, templates, assets) behind ``gate`` (Host and
  Origin checks, security headers).
- ``handling``: sessions to views: sign-in required, CSRF on changes, the grant, errors shown.
- ``sessions``: signed-in sessions and one-time sign-in codes; ``signin``: the form.
- ``browse``, ``memory``, ``tidy``, ``overview``: the views (list and search; one memory and
  its changes; consolidation; stats and export); ``charts``: the bars of the stats.
- ``scrape``: ``/metrics``; ``local``: ``mcp-memory ui``.
"""

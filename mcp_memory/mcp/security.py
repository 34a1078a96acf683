"""Who may use a network server: the refusal to serve the network unprotected, the bearer
tokens and their grants, and the Host/Origin checks against DNS rebinding.

``http/auth.py`` is the token check itself (a plain ASGI middleware, shared with the memory
page) and ``http/origins.py`` the Host/Origin rules; this module decides, from the settings,
what a network transport is wrapped in.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_memory.config import SecuritySettings, ServerSettings, Settings
from mcp_memory.errors import ConfigError
from mcp_memory.http.auth import BearerAuth, Refused, grants
from mcp_memory.http.origins import Origins, is_loopback


def check_network_security(settings: Settings) -> None:
    """Refuse a network server that anyone on the network could use: no token, not loopback."""
    cfg = settings.server
    if cfg.transport != "stdio" and not settings.security.tokens and not is_loopback(cfg.host):
        raise ConfigError(
            f"refusing to serve {cfg.transport} on {cfg.host} without a bearer token: anyone "
            "who can reach it could read and change every memory. Add a token to the config "
            '([[security.tokens]] with token = "<at least 16 characters>") or set '
            "MCP_MEMORY_SECURITY__TOKENS, or bind 127.0.0.1"
        )


def transport_security(
    cfg: ServerSettings, security: SecuritySettings
) -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding: loopback names plus the configured ones.

    ``allowed_hosts = ["*"]`` turns the checks off; so does binding a non-loopback address with
    no allowed host configured (the required token then does the protecting).
    """
    origins = Origins.for_server(cfg.host, security)
    if not origins.checked:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        allowed_hosts=list(origins.hosts), allowed_origins=list(origins.origins)
    )


def http_app(mcp: MCPServer, settings: Settings, on_refused: Refused | None = None) -> Any:
    """The ASGI app of a network transport, behind the bearer-token check when tokens are set
    (``on_refused`` is told of each request it refuses)."""
    cfg, security = settings.server, settings.security
    options = dict(
        max_request_body_size=security.max_request_bytes,
        transport_security=transport_security(cfg, security),
        host=cfg.host,
    )
    app = mcp.sse_app(**options) if cfg.transport == "sse" else mcp.streamable_http_app(**options)
    return BearerAuth(app, grants(security.tokens), on_refused) if security.tokens else app

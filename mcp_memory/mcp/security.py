"""Who may use a network server: the refusal to serve the network unprotected, the bearer
tokens and their grants, and the Host/Origin checks against DNS rebinding.

``auth.py`` beside it is the token check itself (a plain ASGI middleware); this module decides,
from the settings, what a network transport is wrapped in.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_memory.config import SecuritySettings, ServerSettings, Settings
from mcp_memory.errors import ConfigError
from mcp_memory.mcp.auth import BearerAuth, is_loopback
from mcp_memory.policy.access import Grant


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


def grants(security: SecuritySettings) -> list[tuple[str, Grant]]:
    """(secret, grant) for each configured token."""
    return [
        (
            t.token.get_secret_value(),
            Grant(
                name=t.name,
                user_id=None if t.user_id is None else frozenset(t.user_id),
                agent_id=None if t.agent_id is None else frozenset(t.agent_id),
            ),
        )
        for t in security.tokens
    ]


def transport_security(
    cfg: ServerSettings, security: SecuritySettings
) -> TransportSecuritySettings:
    """Host and Origin checks against DNS rebinding: loopback names plus the configured ones.

    ``allowed_hosts = ["*"]`` turns the checks off; so does binding a non-loopback address with
    no allowed host configured (the required token then does the protecting).
    """
    hosts, origins = list(security.allowed_hosts), list(security.allowed_origins)
    if "*" in hosts or (not is_loopback(cfg.host) and not hosts):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts += ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins += ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def http_app(mcp: MCPServer, settings: Settings) -> Any:
    """The ASGI app of a network transport, behind the bearer-token check when tokens are set."""
    cfg, security = settings.server, settings.security
    options = dict(
        max_request_body_size=security.max_request_bytes,
        transport_security=transport_security(cfg, security),
        host=cfg.host,
    )
    app = mcp.sse_app(**options) if cfg.transport == "sse" else mcp.streamable_http_app(**options)
    return BearerAuth(app, grants(security)) if security.tokens else app

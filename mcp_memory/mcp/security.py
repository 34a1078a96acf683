"""Who may use a network server: the bearer tokens it requires and their grants, what the
user is told about a generated token, and the Host/Origin checks against DNS rebinding.

A network transport always requires a token (``policy/tokens.py`` decides which: the
configured ones, else one generated on first start), unless ``--no-auth`` on loopback.
``http/auth.py`` is the token check itself (a plain ASGI middleware, shared with the memory
page) and ``http/origins.py`` the Host/Origin rules; this module decides, from the settings,
what a network transport is wrapped in. Each token is also the request's ``user`` for the SDK
(one principal per token): its transports bind a session to the principal that opened it, so
another token's request to that session is answered 404 and reaches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_memory.config import SecuritySettings, ServerSettings, Settings, TokenSettings
from mcp_memory.http.auth import BearerAuth, Refused, grants
from mcp_memory.http.origins import Origins
from mcp_memory.policy.access import Grant
from mcp_memory.policy.tokens import RequiredTokens, required_tokens


def network_tokens(settings: Settings) -> RequiredTokens:
    """The tokens the configured network transport requires (none for stdio), the generated
    one created on first start; refuses ``--no-auth`` off loopback (``ConfigError``)."""
    if settings.server.transport == "stdio":
        return RequiredTokens()
    return required_tokens(settings)


def check_network_security(settings: Settings) -> None:
    """Refuse, before anything loads, a network server that would serve without a token off
    loopback (``--no-auth`` on another address); create the generated token if needed."""
    network_tokens(settings)


def token_notice(settings: Settings, required: RequiredTokens) -> str | None:
    """What to tell the user on stderr about a generated token: where it is and how to give
    it to a client (in full when it was created just now, one line afterwards)."""
    path, cfg = required.generated, settings.server
    if cfg.transport != "stdio" and settings.security.no_auth:
        return (
            f"mcp-memory: serving {cfg.host} without a token (--no-auth): any process or "
            "user on this machine can read and change every memory"
        )
    if path is None:
        return None
    host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
    url = f"http://{host}:{cfg.port}/{'sse' if cfg.transport == 'sse' else 'mcp'}"
    header = f"Authorization: Bearer <the token in {path}>"
    if not required.created:
        return f"mcp-memory: clients must send the header {header} (README: Client set-up)"
    return "\n".join(
        [
            f"mcp-memory: generated a bearer token for network clients in {path} (readable by "
            "you alone); every request must carry it, as the header",
            f"    {header}",
            "  Claude Code:",
            f"    claude mcp add --transport {cfg.transport} memory {url} "
            f'--header "Authorization: Bearer $(cat {path})"',
            '  Cursor (~/.cursor/mcp.json), in "mcpServers":',
            f'    "memory": {{ "url": "{url}", '
            '"headers": { "Authorization": "Bearer <token>" } }',
            '  VS Code (.vscode/mcp.json), in "servers":',
            f'    "memory": {{ "type": "{cfg.transport}", "url": "{url}", '
            '"headers": { "Authorization": "Bearer <token>" } }',
            "  Tokens of your own (e.g. one per user): [security] tokens in the config file; "
            "--no-auth serves loopback without any.",
        ]
    )


def principal(number: int, grant: Grant) -> AuthenticatedUser:
    """The SDK's user for the ``number``-th token: sessions are bound to its client id."""
    client_id = f"token-{number}:{grant.name}"
    return AuthenticatedUser(AccessToken(token="", client_id=client_id, scopes=[]))


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


def http_app(
    mcp: MCPServer,
    settings: Settings,
    tokens: Sequence[TokenSettings] | None = None,
    on_refused: Refused | None = None,
) -> Any:
    """The ASGI app of a network transport, behind the bearer-token check unless ``tokens`` is
    empty (``--no-auth``; by default the tokens ``network_tokens`` requires); ``on_refused``
    is told of each request it refuses."""
    cfg, security = settings.server, settings.security
    if tokens is None:
        tokens = network_tokens(settings).tokens
    options = dict(
        max_request_body_size=security.max_request_bytes,
        transport_security=transport_security(cfg, security),
        host=cfg.host,
    )
    app = mcp.sse_app(**options) if cfg.transport == "sse" else mcp.streamable_http_app(**options)
    return BearerAuth(app, grants(tokens), on_refused, principal) if tokens else app

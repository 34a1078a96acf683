"""Bearer-token authentication for the network transports, as a plain ASGI middleware.

Every HTTP request must carry ``Authorization: Bearer <token>`` naming one of the configured
tokens; anything else gets ``401`` with an empty body and a ``WWW-Authenticate`` header, before
the MCP application sees a byte of it. Tokens are compared as SHA-256 digests in constant time.
The matching token's ``Grant`` (the scopes it is bound to) is put in the ASGI scope under
``GRANT_KEY``, where the MCP layer picks it up for the tool call (see ``access.py``).

Also here: ``is_loopback``, the check that refuses to serve a non-loopback address without
tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from mcp_memory.policy.access import Grant

GRANT_KEY = "mcp_memory.grant"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class BearerAuth:
    """Wraps an ASGI app: requests without a known bearer token are answered 401."""

    def __init__(self, app: ASGIApp, tokens: Iterable[tuple[str, Grant]]):
        self.app = app
        self._tokens = [(_digest(secret), grant) for secret, grant in tokens]
        if not self._tokens:
            raise ValueError("BearerAuth needs at least one token")

    def _grant(self, header: bytes | None) -> Grant | None:
        if not header:
            return None
        scheme, _, value = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        digest = _digest(value.strip())
        found = None
        for known, grant in self._tokens:
            if hmac.compare_digest(known, digest):
                found = grant
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        grant = self._grant(header)
        if grant is None and scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if grant is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"www-authenticate", b'Bearer realm="mcp-memory"'),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        scope[GRANT_KEY] = grant
        await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

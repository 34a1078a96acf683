"""Bearer-token authentication for the network transports, as a plain ASGI middleware.

Every HTTP request must carry ``Authorization: Bearer <token>`` naming one of the configured
tokens; anything else gets ``401`` with an empty body and a ``WWW-Authenticate`` header, before
the MCP application sees a byte of it. Tokens are compared as SHA-256 digests in constant time.
The matching token's ``Grant`` (the scopes it is bound to) is put in the ASGI scope under
``GRANT_KEY``, where the MCP layer picks it up for the tool call (see ``access.py``).

The token is also named as the request's ``user`` (the SDK's ``AuthenticatedUser``, one
principal per token): the SDK's SSE and streamable-HTTP transports bind each session to the
principal that opened it, so a request carrying another token to that session is answered
404, as if the session did not exist, and reaches nothing. Without it, any valid token could
post into another client's SSE session (the reply going to that client's stream).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from mcp_memory.policy.access import Grant
from mcp_memory.policy.tokens import is_loopback as is_loopback

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
        self._tokens = [
            (_digest(secret), grant, _principal(n, grant))
            for n, (secret, grant) in enumerate(tokens)
        ]
        if not self._tokens:
            raise ValueError("BearerAuth needs at least one token")

    def _match(self, header: bytes | None) -> tuple[Grant, AuthenticatedUser] | None:
        if not header:
            return None
        scheme, _, value = header.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        digest = _digest(value.strip())
        found = None
        for known, grant, user in self._tokens:
            if hmac.compare_digest(known, digest):
                found = (grant, user)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization")
        match = self._match(header)
        if match is None and scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if match is None:
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
        scope[GRANT_KEY], scope["user"] = match
        await self.app(scope, receive, send)


def _principal(number: int, grant: Grant) -> AuthenticatedUser:
    """The SDK's user for the ``number``-th token: sessions are bound to its client id."""
    client_id = f"token-{number}:{grant.name}"
    return AuthenticatedUser(AccessToken(token="", client_id=client_id, scopes=[]))

"""Bearer tokens: the configured secrets, the grant each one carries, and the ASGI middleware
that requires one on every request.

``TokenBook`` holds the tokens as SHA-256 digests and finds a secret's ``Grant`` comparing
every digest in constant time; the MCP transports read the secret from the ``Authorization:
Bearer`` header (``BearerAuth``), the memory page from its sign-in form. ``BearerAuth``
answers a request without a known token ``401`` with an empty body and a ``WWW-Authenticate``
header, before the wrapped application sees a byte of it; the matching token's grant is put in
the ASGI scope under ``GRANT_KEY``, where the MCP layer picks it up for the tool call (see
``policy/access.py``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from mcp_memory.config import TokenSettings
from mcp_memory.policy.access import Grant

GRANT_KEY = "mcp_memory.grant"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Refused = Callable[[str], None]
"""Told why a request was refused ("missing_token", "unknown_token"): the metrics count it."""
Principal = Callable[[int, Grant], Any]
"""The request's ``user`` for the n-th token (the MCP layer binds sessions to it)."""


def grants(tokens: Sequence[TokenSettings]) -> list[tuple[str, Grant]]:
    """(secret, grant) for each token."""
    return [
        (
            t.token.get_secret_value(),
            Grant(
                name=t.name,
                user_id=None if t.user_id is None else frozenset(t.user_id),
                agent_id=None if t.agent_id is None else frozenset(t.agent_id),
            ),
        )
        for t in tokens
    ]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenBook:
    """The known tokens, as digests, each with its grant."""

    def __init__(self, tokens: Iterable[tuple[str, Grant]]):
        self._tokens = [(_digest(secret), grant) for secret, grant in tokens]

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def grant(self, secret: str) -> Grant | None:
        """The grant of this secret, or None; every digest is compared, in constant time."""
        found = self.match(secret)
        return None if found is None else found[1]

    def match(self, secret: str) -> tuple[int, Grant] | None:
        """Which token this secret is (its place in the book) and its grant, or None."""
        digest = _digest(secret.strip())
        found = None
        for number, (known, grant) in enumerate(self._tokens):
            if hmac.compare_digest(known, digest):
                found = (number, grant)
        return found


def bearer(header: bytes | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class BearerAuth:
    """Wraps an ASGI app: requests without a known bearer token are answered 401."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: Iterable[tuple[str, Grant]],
        on_refused: Refused | None = None,
        principal: Principal | None = None,
    ):
        self.app = app
        tokens = list(tokens)
        self._book = TokenBook(tokens)
        self._on_refused = on_refused
        self._users = [principal(n, g) for n, (_, g) in enumerate(tokens)] if principal else None
        if not self._book:
            raise ValueError("BearerAuth needs at least one token")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        secret = bearer(dict(scope.get("headers") or []).get(b"authorization"))
        found = None if secret is None else self._book.match(secret)
        if found is None:
            if self._on_refused is not None:
                self._on_refused("missing_token" if secret is None else "unknown_token")
            await refuse(scope, send)
            return
        number, scope[GRANT_KEY] = found
        if self._users is not None:
            scope["user"] = self._users[number]
        await self.app(scope, receive, send)


async def refuse(scope: Scope, send: Send) -> None:
    """Answer 401 with an empty body (a websocket: close it, policy violation)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
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

"""The checks every request to the page (and ``/metrics``) passes before any view runs, and
the headers every answer carries.

- Host: one of the names the server accepts (``http/origins.py``), against DNS rebinding.
- A change (any method but GET/HEAD): its Origin must be the page's own (scheme and Host of the
  request) or one listed in ``security.allowed_origins``; with no Origin header, a browser's
  ``Sec-Fetch-Site`` must not say it came from another site. Browsers send Origin with every
  POST, so a form on another site (or on another port of this machine, which is the same
  *site* to a cookie) is refused here, before its missing CSRF token is looked at.
- Every answer: a Content-Security-Policy allowing the page's own scripts, styles and forms
  only, no framing, no Referer to other sites, no MIME sniffing, and no caching of pages (the
  static assets are cached).
"""

from __future__ import annotations

from collections.abc import Callable

from mcp_memory.http.auth import ASGIApp, Receive, Scope, Send
from mcp_memory.http.origins import Origins, matches

SAFE_METHODS = ("GET", "HEAD")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
STATIC_PREFIX = "/ui/static/"


class Gate:
    """Wraps the page's app: Host and Origin checks, and the security headers."""

    def __init__(
        self,
        app: ASGIApp,
        origins: Origins,
        allowed_origins: list[str],
        on_refused: Callable[[str], None] | None = None,
    ):
        self.app = app
        self.origins = origins
        self.allowed_origins = list(allowed_origins)
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if not self.origins.host_ok(host):
            await self._refuse(send, 421, "host", "This page does not answer to that host name.")
            return
        if scope["method"] not in SAFE_METHODS and not self.same_origin(scope, headers):
            await self._refuse(
                send, 403, "origin", "Changes are accepted only from this page's own origin."
            )
            return
        await self.app(scope, receive, _with_headers(send, scope["path"]))

    def same_origin(self, scope: Scope, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
        own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
        return origin == own or matches(origin, self.allowed_origins)

    async def _refuse(self, send: Send, status: int, reason: str, text: str) -> None:
        if self.on_refused is not None:
            self.on_refused(reason)
        body = text.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    *HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send, path: str) -> Send:
    cache = b"public, max-age=86400" if path.startswith(STATIC_PREFIX) else b"no-store"

    async def sending(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []), *HEADERS]
            message["headers"].append((b"cache-control", cache))
        await send(message)

    return sending

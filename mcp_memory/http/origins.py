"""Which Host and Origin headers a server accepts: the checks against DNS rebinding.

A page on another site cannot read a loopback server's answers, unless it gets the browser to
believe the server is that site (DNS rebinding: ``evil.example`` resolving to 127.0.0.1), and
then the Host header still says ``evil.example``. So a server bound to loopback accepts only
loopback names in Host (any port), plus the configured ``allowed_hosts``; ``["*"]`` turns the
check off, and so does binding another address with no allowed host configured (the required
token then does the protecting). Origin is held to the same list of names.

A pattern ending in ``:*`` matches any port: ``localhost:*`` matches ``localhost:8765``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mcp_memory.config import SecuritySettings
from mcp_memory.policy.tokens import is_loopback

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


def matches(value: str, patterns: Iterable[str]) -> bool:
    """Whether ``value`` equals a pattern, or has its name and any port for a ``name:*``."""
    for pattern in patterns:
        if value == pattern:
            return True
        if pattern.endswith(":*") and value.startswith(pattern[:-1]) and value != pattern[:-1]:
            port = value[len(pattern) - 1 :]
            if port.isdigit():
                return True
    return False


@dataclass(frozen=True)
class Origins:
    """The Host and Origin values a server bound to ``bind_host`` accepts."""

    hosts: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    checked: bool = True

    @classmethod
    def for_server(cls, bind_host: str, security: SecuritySettings) -> Origins:
        hosts, origins = tuple(security.allowed_hosts), tuple(security.allowed_origins)
        if "*" in hosts or (not is_loopback(bind_host) and not hosts):
            return cls(checked=False)
        return cls(hosts + LOOPBACK_HOSTS, origins + LOOPBACK_ORIGINS)

    def host_ok(self, host: str | None) -> bool:
        return not self.checked or (bool(host) and matches(host or "", self.hosts))

    def origin_ok(self, origin: str | None) -> bool:
        """An absent Origin passes (same-origin GETs, non-browser clients)."""
        return not self.checked or not origin or matches(origin, self.origins)

"""Who is signed in to the page: sessions behind an HttpOnly cookie, and the one-time sign-in
links of ``mcp-memory ui``.

A session is created only by signing in (a bearer token posted in the sign-in form, or a
one-time code), or, on a server that requires no token at all, on the first visit: the same
rule as the tools. It carries the signer's ``Grant``, so every service call made for it is
confined to the token's scopes, and a CSRF token that every change must post back. Sessions
live in this process only: a restart signs everyone out.

A one-time code (the nonce in the link ``mcp-memory ui`` prints) signs in the local user, with
full access, once, within ``link_minutes``; the link carries it after ``#``, so it never
reaches a server log, and the page posts it like a token.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_memory.policy.access import Grant

Ticks = Callable[[], float]


@dataclass
class Session:
    """One signed-in browser."""

    id: str
    grant: Grant | None
    who: str
    csrf: str
    expires: float
    notes: list[tuple[str, str]] = field(default_factory=list)

    def note(self, text: str, kind: str = "ok") -> None:
        """A message for the next page shown (``ok`` or ``error``)."""
        self.notes.append((kind, text))

    def take_notes(self) -> list[tuple[str, str]]:
        notes, self.notes = self.notes, []
        return notes


class Sessions:
    """The live sessions, by id; each ends ``lifetime_s`` after sign-in. Past ``limit`` live
    sessions the oldest ends first (a client that never keeps its cookie opens one a visit
    on a server without tokens)."""

    def __init__(self, lifetime_s: float, ticks: Ticks = time.monotonic, limit: int = 1000):
        self.lifetime_s = lifetime_s
        self._ticks = ticks
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.limit = limit

    def open(self, grant: Grant | None, who: str) -> Session:
        session = Session(
            id=secrets.token_urlsafe(32),
            grant=grant,
            who=who,
            csrf=secrets.token_urlsafe(32),
            expires=self._ticks() + self.lifetime_s,
        )
        with self._lock:
            self._drop_expired()
            while len(self._by_id) >= self.limit:
                del self._by_id[next(iter(self._by_id))]  # insertion order: the oldest
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._by_id.get(session_id)
            if session is not None and session.expires <= self._ticks():
                del self._by_id[session_id]
                return None
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)

    def _drop_expired(self) -> None:
        now = self._ticks()
        for sid in [sid for sid, s in self._by_id.items() if s.expires <= now]:
            del self._by_id[sid]


class Nonces:
    """One-time sign-in codes: each works once, within ``lifetime_s`` of being issued."""

    def __init__(self, lifetime_s: float, ticks: Ticks = time.monotonic):
        self.lifetime_s = lifetime_s
        self._ticks = ticks
        self._expiry: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(24)
        with self._lock:
            self._expiry[_digest(nonce)] = self._ticks() + self.lifetime_s
        return nonce

    def redeem(self, nonce: str) -> bool:
        """Whether ``nonce`` is a live code; it is spent either way."""
        with self._lock:
            expires = self._expiry.pop(_digest(nonce.strip()), None)
        return expires is not None and expires > self._ticks()

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._expiry)


def _digest(nonce: str) -> bytes:
    return hashlib.sha256(nonce.encode()).digest()

"""How a request to the page becomes a service call and a page: the signed-in session, the
form of a change and its CSRF token, the caller's grant, the worker thread, and the service's
errors shown on the page.

A view is wrapped by ``viewing`` (GET: needs a session) or ``changing`` (POST: needs a
session, a url-encoded form within ``security.max_request_bytes`` and the session's CSRF token,
compared in constant time). Every service call goes through ``Visit.call``: the session's grant
is made current exactly as the MCP layer does for a tool call (``policy/access.py``), and the
blocking call runs in a worker thread. A ``MemoryServiceError`` becomes its message on the page
(a view) or a note on the page the change returns to.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial, wraps
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import anyio
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mcp_memory.config import Settings
from mcp_memory.errors import (
    AccessDenied,
    Conflict,
    InvalidInput,
    MemoryNotFound,
    MemoryServiceError,
    StoreUnavailable,
)
from mcp_memory.http.auth import TokenBook
from mcp_memory.observe.outcomes import outcome_of
from mcp_memory.policy.access import set_current
from mcp_memory.service import MemoryService
from mcp_memory.web.sessions import Nonces, Session, Sessions

if TYPE_CHECKING:
    from mcp_memory.observe.metrics import Metrics

T = TypeVar("T")
SCOPE_KEYS = ("user_id", "agent_id", "session_id")
STATUS = {InvalidInput: 400, AccessDenied: 403, MemoryNotFound: 404, Conflict: 409}


class Refusal(Exception):
    """A request the page refuses before any service call: status and message."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason


def status_of(error: MemoryServiceError) -> int:
    if isinstance(error, StoreUnavailable):
        return 503
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)


@dataclass
class Page:
    """What every view shares: the process's service and settings, the sessions, the token
    book, the templates, and the metrics (None: not counted)."""

    service: MemoryService
    settings: Settings
    book: TokenBook
    sessions: Sessions
    nonces: Nonces | None
    open_access: bool
    templates: jinja2.Environment
    metrics: Metrics | None = None
    assets: dict[str, str] = field(default_factory=dict)

    def cookie_name(self, request: Request) -> str:
        """Per port: cookies ignore ports, and two servers on one host must not mix."""
        return f"mcp_memory_ui_{request.url.port or 0}"

    def session_of(self, request: Request) -> tuple[Session | None, bool]:
        """The request's session, and whether it was opened just now (open access)."""
        session = self.sessions.get(request.cookies.get(self.cookie_name(request)))
        if session is not None:
            return session, False
        if self.open_access:
            return self.sessions.open(None, "anyone on this machine (no token configured)"), True
        return None, False

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            self.cookie_name(request), session.id, max_age=int(self.sessions.lifetime_s),
            path="/ui", secure=request.url.scheme == "https", httponly=True, samesite="strict",
        )  # fmt: skip

    def refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.refused(reason)

    def html(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(assets=self.assets, **values)
        return HTMLResponse(body, status_code=status)


@dataclass
class Visit:
    """One request of a signed-in session: its page, session and (for a change) form."""

    page: Page
    request: Request
    session: Session
    form: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> MemoryService:
        return self.page.service

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service call as this session's grant, in a worker thread."""
        set_current(self.session.grant)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    def scope(self, source: Mapping[str, str] | None = None) -> dict[str, str]:
        """The scope fields given (query or form), empty ones left out."""
        source = self.request.query_params if source is None else source
        return {k: v for k in SCOPE_KEYS if (v := (source.get(k) or "").strip())}

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("scope", self.scope())
        return self.page.html(
            template, status, session=self.session, notes=self.session.take_notes(),
            query=query_string, **values,
        )  # fmt: skip

    def back(self, default: str = "/ui/") -> RedirectResponse:
        """See-other to the form's ``back`` (a page of this app only), else ``default``."""
        target = self.form.get("back", "")
        ok = target.startswith("/ui/") and not target.startswith("//") and "\\" not in target
        return RedirectResponse(target if ok else default, status_code=303)


View = Callable[[Visit], Awaitable[Response]]


def query_string(values: Mapping[str, Any], **more: Any) -> str:
    """``?a=1&b=2`` of the non-empty values (and ``more``), or ``""``."""
    merged = {**values, **more}
    pairs = [(k, str(v)) for k, v in merged.items() if v not in (None, "")]
    return "?" + urlencode(pairs) if pairs else ""


def viewing(view: View) -> Callable[[Request], Awaitable[Response]]:
    """A GET view: needs a session (else: to the sign-in form); errors shown on the page."""

    @wraps(view)
    async def endpoint(request: Request) -> Response:
        page: Page = request.app.state.page
        session, fresh = page.session_of(request)
        if session is None:
            return RedirectResponse("/ui/signin", status_code=303)
        visit = Visit(page, request, session)
        try:
            response = await view(visit)
        except MemoryServiceError as exc:
            if isinstance(exc, AccessDenied):
                page.refused("scope")
            response = visit.render("message.html", status_of(exc), error=str(exc))
        if fresh:
            page.set_cookie(request, response, session)
        return response

    return endpoint


def changing(action: str) -> Callable[[View], Callable[[Request], Awaitable[Response]]]:
    """A POST view named ``action`` (for the metrics): needs a session, its form and its CSRF
    token; a service error becomes a note on the page the change returns to."""

    def wrap(view: View) -> Callable[[Request], Awaitable[Response]]:
        @wraps(view)
        async def endpoint(request: Request) -> Response:
            page: Page = request.app.state.page
            session = page.sessions.get(request.cookies.get(page.cookie_name(request)))
            try:
                if session is None:
                    raise Refusal(403, "Your sign-in has ended: sign in again.", "session")
                form = await read_form(request, page.settings.security.max_request_bytes)
                if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
                    raise Refusal(403, "This form is stale or not from this page.", "csrf")
            except Refusal as refusal:
                if refusal.reason:
                    page.refused(refusal.reason)
                return page.html("message.html", refusal.status, error=str(refusal))
            visit = Visit(page, request, session, form)
            return await _change(page, visit, view, action)

        return endpoint

    return wrap


async def _change(page: Page, visit: Visit, view: View, action: str) -> Response:
    error: MemoryServiceError | None = None
    try:
        return await view(visit)
    except MemoryServiceError as exc:
        error = exc
        visit.session.note(str(exc), "error")
        return visit.back()
    finally:
        if page.metrics is not None:
            page.metrics.page_action(action, outcome_of(error))


async def read_form(request: Request, limit: int) -> dict[str, str]:
    """The url-encoded form of a POST, at most ``limit`` bytes (else ``Refusal``)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refusal(415, "Send the page's own form (application/x-www-form-urlencoded).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, f"The form is larger than {limit} bytes.")
    try:
        text = body.decode("utf-8")
        return dict(
            parse_qsl(text, keep_blank_values=True, max_num_fields=200, strict_parsing=False)
        )
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "The form could not be read (not UTF-8, or too many fields).") from None

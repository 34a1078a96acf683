"""Signing in and out of the page.

The sign-in form posts a bearer token (a password field: never in a URL, never logged) or a
one-time code from ``mcp-memory ui``; either opens a new session (a fresh id, so a planted
cookie is never promoted) and sets its HttpOnly, SameSite=Strict cookie. The link ``mcp-memory
ui`` prints carries the code after ``#``: the page's script posts it, and a browser without
scripts shows the field to paste it into.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_memory.web.handling import Page, Refusal, Visit, changing, read_form


async def signin_form(request: Request) -> Response:
    page: Page = request.app.state.page
    signed_in = page.sessions.get(request.cookies.get(page.cookie_name(request)))
    if page.open_access or signed_in is not None:
        return RedirectResponse("/ui/", status_code=303)
    return page.html("signin.html", codes=page.nonces is not None, tokens=bool(page.book))


async def signin(request: Request) -> Response:
    page: Page = request.app.state.page
    try:
        form = await read_form(request, page.settings.security.max_request_bytes)
    except Refusal as refusal:
        return page.html("message.html", refusal.status, error=str(refusal))
    secret = form.get("token", "").strip()
    session = None
    if secret and page.nonces is not None and page.nonces.redeem(secret):
        session = page.sessions.open(None, "the local user (one-time link)")
    elif secret and (grant := page.book.grant(secret)) is not None:
        session = page.sessions.open(grant, f"token {grant.name!r}" if grant.name else "a token")
    if session is None:
        page.refused("sign_in")
        return page.html(
            "signin.html", 401, codes=page.nonces is not None, tokens=bool(page.book),
            error="That is not a token this server knows, nor a live one-time code (a code "
            "works once, for a limited time: run `mcp-memory ui` again for a new link).",
        )  # fmt: skip
    response = RedirectResponse("/ui/", status_code=303)
    page.set_cookie(request, response, session)
    return response


@changing("sign_out")
async def signout(visit: Visit) -> Response:
    page = visit.page
    page.sessions.close(visit.session.id)
    response = RedirectResponse("/ui/signin", status_code=303)
    response.delete_cookie(
        page.cookie_name(visit.request), path="/ui", httponly=True, samesite="strict"
    )
    return response

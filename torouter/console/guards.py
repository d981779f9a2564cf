"""Page handlers by who may see them: anyone, a signed-in user, a verified user (R12.2).

    @public     the visitor is resolved (language, CSRF) but may be anonymous
    @signed_in  anonymous visitors are sent to /login?next=<this page>
    @verified   signed in and verified; an unverified user gets the verification page
    @admin      signed in, verified and an administrator; anyone else signed in gets a 403
                page before anything is read or changed (R15.2: authorised server-side)

Each wrapped handler takes `(request, visitor)`. An exception a handler does not expect
becomes the 500 page with the request id, logged with its traceback (never shown).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from torouter.console.forms import CsrfFailed, FormTooLarge
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor, visitor

__all__ = ["Endpoint", "Handler", "admin", "public", "signed_in", "verified"]

log = logging.getLogger("torouter.console")

Handler = Callable[[Request, Visitor], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
_EXPECTED = (CsrfFailed, FormTooLarge, HTTPException)


async def _run(handler: Handler, request: Request, v: Visitor) -> Response:
    try:
        return await handler(request, v)
    except _EXPECTED:
        raise  # answered by the app's exception handlers (403, 413, 404/405 pages)
    except Exception:
        rid = request.scope.get("state", {}).get("request_id", "")
        log.exception("console error", extra={"request_id": rid})
        try:
            return page(request, v, "errors/server.html", status=500, request_id=rid)
        except Exception:  # the error page itself failed: plain words, still no traceback
            log.exception("console error page failed", extra={"request_id": rid})
            return PlainTextResponse(f"Internal error ({rid})", status_code=500)


def public(handler: Handler) -> Endpoint:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        return await _run(handler, request, await visitor(request))

    return endpoint


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="/")


def signed_in(handler: Handler) -> Endpoint:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        v = await visitor(request)
        if not v.signed_in:
            return redirect(_login_url(request))
        return await _run(handler, request, v)

    return endpoint


def verified(handler: Handler) -> Endpoint:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        v = await visitor(request)
        if not v.signed_in:
            return redirect(_login_url(request))
        if not v.verified:
            return page(request, v, "auth/unverified.html", status=403)
        return await _run(handler, request, v)

    return endpoint


def admin(handler: Handler) -> Endpoint:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        v = await visitor(request)
        if not v.signed_in:
            return redirect(_login_url(request))
        if not v.verified or v.user is None or v.user["role"] != "admin":
            return page(request, v, "errors/forbidden.html", status=403)
        return await _run(handler, request, v)

    return endpoint

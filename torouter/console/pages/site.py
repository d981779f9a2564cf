"""The console's frame: `/` (to the dashboard or sign-in), the language switch and the
hashed static files (R15.1, R15.5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.accounts import profile as profile_flow
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import read_form
from torouter.console.guards import public
from torouter.console.i18n import LANG_COOKIE, LANGUAGES
from torouter.console.render import page, redirect, safe_next
from torouter.console.visitor import Visitor

__all__ = ["routes"]

YEAR = 365 * 24 * 3600


@public
async def home(request: Request, v: Visitor) -> Response:
    return redirect("/dashboard" if v.signed_in else "/login")


@public
async def switch_language(request: Request, v: Visitor) -> Response:
    """Kept for the visitor in a cookie and, signed in, in the profile (R15.1)."""
    form = await read_form(request, v)
    lang = form.get("lang", "")
    response = redirect(safe_next(form.get("next"), "/"))
    if lang not in LANGUAGES:
        return response
    deps: ConsoleDeps = request.app.state.deps
    if v.signed_in:
        await profile_flow.update_profile(deps.accounts, v.user_id, {"language": lang})
    secure = deps.accounts.secure_cookies or request.url.scheme == "https"
    response.set_cookie(LANG_COOKIE, lang, max_age=YEAR, path="/", secure=secure, samesite="lax")
    return response


async def static(request: Request) -> Response:
    deps: ConsoleDeps = request.app.state.deps
    asset = deps.assets.get(request.path_params["name"])
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {"cache-control": f"public, max-age={YEAR}, immutable", "etag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


async def favicon(request: Request) -> Response:
    deps: ConsoleDeps = request.app.state.deps
    return redirect(deps.assets.url("favicon.svg"))


@public
async def not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


routes = [
    Route("/", home, methods=["GET"]),
    Route("/language", switch_language, methods=["POST"]),
    Route("/static/{name:path}", static, methods=["GET", "HEAD"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
]
